"""Classifier-head recipe experiments on the many-label bench workload (``bench/workloads/intents``).

A plain transformers + PEFT loop (not tailorlm's trainer), so each recipe choice can be switched on
alone: the head's start (``--label-init``: rows from the label names' embeddings), a text after each
message (``--suffix "\nLabel:"``), an appended EOS (``--eos``), a separate head learning rate
(``--head-lr``), LoRA or full fine-tuning. Trains on the whole ``train.jsonl`` (6,000 messages, no
validation split), length-grouped batches in random order, cosine schedule with 5% warm-up, and
prints the accuracy on the whole ``test.jsonl`` (1,700) every ``--eval-every`` epochs into
``bench/results/<name>.log`` (JSON lines). Results: docs/benchmarks.md, "Classifier head: where it
starts".

    python bench/classifier_recipe.py --name labelinit --label-init --suffix $'\nLabel:' --threads 2
    python bench/classifier_recipe.py --name random-head            # the control
"""
import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--name", required=True)
p.add_argument("--method", default="lora")  # lora|full
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--head-lr", type=float, default=None)
p.add_argument("--eos", action="store_true")
p.add_argument("--epochs", type=float, default=1.0)
p.add_argument("--bs", type=int, default=16)
p.add_argument("--r", type=int, default=16)
p.add_argument("--eval-every", type=float, default=0.5)  # epochs
p.add_argument("--probe", type=int, default=0)  # time N steps and exit
p.add_argument("--threads", type=int, default=1)
p.add_argument("--smooth", type=float, default=0.0)
p.add_argument("--bf16", action="store_true")
p.add_argument("--label-init", action="store_true")
p.add_argument("--suffix", default="")
p.add_argument("--lora-dropout", type=float, default=0.0)
a = p.parse_args()
torch.set_num_threads(a.threads); torch.manual_seed(0); random.seed(0)
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from tailorlm.models.loader import resolve_base
path = resolve_base("smollm2-135m-instruct", None).path
tok = AutoTokenizer.from_pretrained(path)
W = str(ROOT / "bench" / "workloads" / "intents") + "/"
tr = [json.loads(l) for l in open(W + "train.jsonl")]
te = [json.loads(l) for l in open(W + "test.jsonl")]
labels = sorted({r["label"] for r in tr}); idx = {l: i for i, l in enumerate(labels)}
def enc(t):
    ids = tok(t + a.suffix, add_special_tokens=False)["input_ids"][:256]
    return ids + ([tok.eos_token_id] if a.eos else [])
Xtr = [(enc(r["text"]), idx[r["label"]]) for r in tr]
Xte = [(enc(r["text"]), idx[r["label"]]) for r in te]
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels), pad_token_id=tok.pad_token_id)
model.config.pad_token_id = tok.pad_token_id
if a.label_init:
    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        for i, lab in enumerate(labels):
            t = tok(" " + lab.replace("_", " "), add_special_tokens=False)["input_ids"]
            model.score.weight[i] = emb[t].mean(0)
if a.method == "lora":
    from peft import LoraConfig, get_peft_model
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=a.r, lora_alpha=2 * a.r, target_modules="all-linear", lora_dropout=a.lora_dropout))
head = [p_ for n, p_ in model.named_parameters() if p_.requires_grad and "score" in n]
body = [p_ for n, p_ in model.named_parameters() if p_.requires_grad and "score" not in n]
opt = torch.optim.AdamW([{"params": body, "lr": a.lr}, {"params": head, "lr": a.head_lr or a.lr}], weight_decay=0.0)
def batches(X, bs, shuffle):
    order = sorted(range(len(X)), key=lambda i: len(X[i][0]))
    bl = [order[i:i + bs] for i in range(0, len(order), bs)]
    if shuffle: random.shuffle(bl)
    for b in bl:
        w = max(len(X[i][0]) for i in b)
        ids = torch.full((len(b), w), tok.pad_token_id); m = torch.zeros((len(b), w), dtype=torch.long)
        for r, i in enumerate(b):
            ids[r, :len(X[i][0])] = torch.tensor(X[i][0]); m[r, :len(X[i][0])] = 1
        yield ids, m, torch.tensor([X[i][1] for i in b])
steps_per_epoch = math.ceil(len(Xtr) / a.bs); total = int(steps_per_epoch * a.epochs)
warm = int(0.05 * total)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
def evaluate():
    model.eval(); correct = 0
    with torch.inference_mode():
        for ids, m, y in batches(Xte, 64, False):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                lo = model(input_ids=ids, attention_mask=m).logits.float()
            correct += int((lo.argmax(-1) == y).sum())
    model.train(); return correct / len(Xte)
step = 0; t0 = time.time(); (ROOT / "bench" / "results").mkdir(exist_ok=True)
log = open(ROOT / "bench" / "results" / f"{a.name}.log", "w")
ev_every = max(1, int(a.eval_every * steps_per_epoch)); model.train()
while step < total:
    for ids, m, y in batches(Xtr, a.bs, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            lo = model(input_ids=ids, attention_mask=m).logits.float()
        loss = F.cross_entropy(lo, y, label_smoothing=a.smooth)
        loss.backward(); opt.step(); sched.step(); opt.zero_grad(); step += 1
        if step % 20 == 0 or a.probe:
            print(json.dumps({"step": step, "loss": round(loss.item(), 3), "s": round(time.time() - t0, 1)}), file=log, flush=True)
        if a.probe and step >= a.probe:
            print(a.name, "s/step", (time.time() - t0) / step); sys.exit()
        if step % ev_every == 0 or step == total:
            acc = evaluate()
            print(json.dumps({"step": step, "epoch": round(step / steps_per_epoch, 2), "test_acc": round(acc, 4), "s": round(time.time() - t0, 1)}), file=log, flush=True)
        if step >= total: break
print("done", file=log, flush=True)
