"""Training throughput: ``tailorlm train``'s path against the competent baselines, same run, same rows.

Two workloads, LoRA (r 16, alpha 32, all-linear) on the default model (SmolLM2-135M-Instruct):

* **classification** (``--workload classification``): support-template messages, 15 intents, batch
  16. *Ours* is the path ``tailorlm train`` takes for the demo's spec: ``train.head: auto`` picks the
  classifier head (message alone, one logit per label; ``src/tailorlm/train/classifier.py``).
  *Ours, lm head* (``train.head: lm``: the instruction, label list and chat template; loss on the label
  + EOS, the LM head only where a label is predicted, the shared system prompt run once per batch) is
  its own line against the generative baselines.
* **generation** (``--workload generation``): long answers (``bench/workloads/support_answers``:
  ~125-token answers, loss on the answer + EOS), batch 8, with the tokens common to every row (the
  system turn) cut off, so no prefix is shared and the prefix trick cannot help.

Baselines (``bench/train_baselines.py``): ``Trainer`` + PEFT at default arguments (fp32, random
order: the *default-arguments* line); ``Trainer`` with ``train_sampling_strategy="group_by_length"``;
``Trainer`` on ``AutoModelForSequenceClassification`` (classification); TRL ``SFTTrainer`` with
padding-free batches and the loss on the completion only. Each runs in fp32 and with ``bf16=True``
(bf16 autocast on CPU), ours in fp32 and with bf16 autocast (``model.dtype``), and **ours is compared
with the best baseline at the same precision**. The aim is checked at the precision ``tailorlm
train`` picks on this machine (``model.dtype: auto``: bf16 autocast only where measured faster).

The figure is examples/s: real (non-pad) tokens per second over the timed steps, divided by the mean
tokens of an example in that path's encoding (the classifier reads ~20 tokens where the generative
paths read ~155), so paths with different batch orders and encodings compare the same work per
example. Each path runs in its own child process; the first step is warm-up; paths alternate for
``--rounds`` rounds and each keeps its best round (the machine may be shared).

Prints one line per comparison (our figure, the best baseline's, the ratio) and exits 1 when an aim
is missed (classification >= 2x, generation >= 1.3x; ``--no-check`` only reports)::

    python bench/train_throughput.py --workload classification
    python bench/train_throughput.py --workload generation --rounds 2 --steps 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared 2-core machine: no spinning threads
sys.path.insert(0, str(Path(__file__).resolve().parent))

INSTRUCTION = ("You are a support assistant at Northwind Bank. Read the customer's message and answer with the "
               "one intent label that fits it best, exactly as written in the list.")
ANSWERS = Path(__file__).resolve().parent / "workloads" / "support_answers"
AIMS = {"classification": 2.0, "generation": 1.3}
BATCH = {"classification": 16, "generation": 8}
EXAMPLES = {"classification": 400, "generation": 160}
# (name, runner, which rows it reads); every path runs at both precisions unless fp32_only.
PATHS = {
    "classification": [("ours", "ours", "cls"), ("ours, lm head", "ours", "sft"),
                       ("Trainer defaults", "trainer_sft_default", "sft"),
                       ("Trainer group_by_length", "trainer_sft", "sft"),
                       ("Trainer seq-cls group_by_length", "trainer_seqcls", "cls"),
                       ("TRL SFTTrainer padding-free", "trl_sft", "sft")],
    "generation": [("ours", "ours", "gen"), ("Trainer defaults", "trainer_sft_default", "gen"),
                   ("Trainer group_by_length", "trainer_sft", "gen"),
                   ("TRL SFTTrainer padding-free", "trl_sft", "gen")],
}


def support_messages(n: int) -> tuple[list[dict], list[str]]:
    """Valid, labelled messages of the support template (the demo data) as dataset rows, and the labels."""
    from tailorlm.templates.support.generate import generate_corpus

    rows, _ = generate_corpus(n_messages=max(n, 200), seed=13)
    out = []
    for i, line in enumerate(rows):
        r = line.get("record")
        if isinstance(r, dict) and isinstance(r.get("text"), str) and r["text"].strip() and r.get("intent"):
            out.append({"id": str(r.get("id", i)), "completion": r["intent"],
                        "prompt": json.dumps([{"role": "user", "content": r["text"]}])})
    return out[:n], sorted({r["completion"] for r in out})


def objective(workload: str):
    from tailorlm.spec import ObjectiveSpec

    if workload == "generation":
        return ObjectiveSpec(task="generation")
    return ObjectiveSpec(task="classification", instruction=INSTRUCTION)


def encode_rows(kind: str, n: int, tokenizer, max_len: int = 256) -> list:
    """Encoded rows: ``sft`` (chat template, loss on label + EOS), ``cls`` (the classifier head's
    input: the message alone, ``meta["class"]``) or ``gen`` (support answers, no shared prefix)."""
    from tailorlm.prompting import build_messages
    from tailorlm.train.classifier import encode_text_ids, message_text
    from tailorlm.train.tokenize import IGNORE, Encoded, encode_sft

    if kind == "gen":
        lines = (ANSWERS / "train.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        rows = [{"id": r["id"], "prompt": json.dumps([{"role": "user", "content": r["prompt"]}]),
                 "completion": r["completion"]} for r in map(json.loads, lines)]
        encs = [encode_sft(r, tokenizer, objective("generation"), []) for r in rows]
        cut = min(_common_prefix(encs[0].input_ids, e.input_ids) for e in encs)  # the system turn
        return [Encoded(e.input_ids[cut:], e.labels[cut:], e.record_id) for e in encs]
    rows, labels = support_messages(n)
    if kind == "sft":
        return [encode_sft(r, tokenizer, objective("classification"), labels) for r in rows]
    index = {lab: i for i, lab in enumerate(labels)}
    out = []
    for r in rows:
        ids = encode_text_ids(tokenizer, message_text(build_messages(r, objective("classification"), labels)),
                              max_len)
        out.append(Encoded(ids, [IGNORE] * len(ids), r["id"], meta={"class": index[r["completion"]]}))
    return out


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def n_labels() -> int:
    return len(support_messages(200)[1])


def run_ours(args, kind: str) -> tuple[list[float], list[int], list]:
    """The real training loop (``run_loop``, set up by the same ``_setup`` as ``tailorlm train``), timed
    from its own per-step log (``metrics.jsonl`` rows: cumulative tokens and tokens/s per step)."""
    import torch

    from tailorlm.models import load_base
    from tailorlm.spec import TailorSpec
    from tailorlm.train.classifier import load_classifier_base
    from tailorlm.train.loop import run_loop
    from tailorlm.train.run import _setup

    torch.manual_seed(0)
    head = "classifier" if kind == "cls" else "lm"
    spec = TailorSpec.model_validate({
        "project": "bench", "data": {"sources": [{"path": "unused.jsonl"}]},
        "objective": objective(args.workload).model_dump(),
        "model": {"base": args.model, "dtype": "bfloat16" if args.precision == "bf16" else "float32"},
        "train": {"method": "lora", "head": head, "batch_size": args.batch_size, "max_steps": args.steps,
                  "eval_every": 10 ** 6, "save_every": 10 ** 6},
    })
    labels = support_messages(200)[1]
    lm = load_classifier_base(spec, labels) if head == "classifier" else load_base(args.model, dtype=spec.model.dtype)
    encs = encode_rows(kind, args.examples, lm.tokenizer)
    rows = [[e] for e in encs]
    model, opt, sched, cfg = _setup(spec, lm, {"train": rows}, packed=False, progress=False, accelerator=None,
                                    head=head)
    run_dir = Path(args.tmp) / f"ours-run-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    steps = [r for r in run_loop(model, opt, sched, rows, [], cfg, run_dir).history if "tokens_per_second" in r]
    cumulative = [r["tokens"] for r in steps]
    tokens = [b - a for a, b in zip([0] + cumulative, cumulative)]
    return [n / r["tokens_per_second"] for n, r in zip(tokens, steps)], tokens, encs


def run_baseline(args, runner: str, kind: str) -> tuple[list[float], list[int], list]:
    import torch
    from transformers import AutoModelForSequenceClassification

    import train_baselines as tb
    from tailorlm.models import load_base
    from tailorlm.train.classifier import classifier_kwargs

    torch.manual_seed(0)
    lm = load_base(args.model, dtype="float32")
    encs = encode_rows(kind, args.examples, lm.tokenizer)
    model = lm.model
    if runner == "trainer_seqcls":
        model = AutoModelForSequenceClassification.from_pretrained(
            lm.resolved.path, dtype=torch.float32,
            **classifier_kwargs(support_messages(200)[1], lm.tokenizer.pad_token_id))
    bf16 = args.precision == "bf16"
    call = {"trainer_sft_default": lambda: tb.trainer_sft(model, lm.tokenizer, encs, args.steps, args.batch_size,
                                                          args.tmp),
            "trainer_sft": lambda: tb.trainer_sft(model, lm.tokenizer, encs, args.steps, args.batch_size, args.tmp,
                                                  bf16=bf16, grouped=True),
            "trainer_seqcls": lambda: tb.trainer_seqcls(model, lm.tokenizer, encs, args.steps, args.batch_size,
                                                        args.tmp, bf16=bf16, grouped=True),
            "trl_sft": lambda: tb.trl_sft(model, lm.tokenizer, encs, args.steps, args.batch_size, args.tmp,
                                          bf16=bf16)}[runner]
    times, tokens = call()
    return times, tokens, encs


def child(args) -> dict:
    name, runner, kind = next(p for p in PATHS[args.workload] if p[0] == args.path)
    times, tokens, encs = run_ours(args, kind) if runner == "ours" else run_baseline(args, runner, kind)
    t, n = sum(times[1:]), sum(tokens[1:])  # step 1 is warm-up
    per_example = sum(len(e) for e in encs) / len(encs)
    return {"path": name, "precision": args.precision, "tokens_per_second": n / t,
            "examples_per_second": n / t / per_example, "tokens_per_example": per_example,
            "timed_steps": len(times) - 1, "timed_tokens": n, "seconds": t,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def precisions_of(args, runner: str, kind: str) -> list[str]:
    """Trainer defaults: fp32 (its default); generative baselines: ``--baseline-precisions``; the rest
    (ours, the seq-cls Trainer, both cheap): ``--precisions``."""
    if runner == "trainer_sft_default":
        return ["fp32"]
    if runner != "ours" and kind != "cls":
        return args.baseline_precisions
    return args.precisions


def measure(args) -> dict[tuple[str, str], dict]:
    """Every (path, precision) in its own child process, alternating for ``--rounds``; best round each."""
    best: dict[tuple[str, str], dict] = {}
    for _ in range(args.rounds):
        for name, runner, _kind in PATHS[args.workload]:
            for precision in precisions_of(args, runner, _kind):
                cmd = [sys.executable, __file__, "--workload", args.workload, "--path", name, "--precision",
                       precision, "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--examples",
                       str(args.examples), "--model", args.model, "--tmp", args.tmp]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode:
                    sys.exit(f"{name} ({precision}) failed:\n{out.stderr[-3000:]}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"  {name:34} {precision}  {r['examples_per_second']:7.2f} ex/s  {r['tokens_per_second']:8.1f} "
                      f"tok/s  RSS {r['peak_rss_mb']:6.0f} MB  load {os.getloadavg()[0]:.1f}", flush=True)
                key = (name, precision)
                if key not in best or r["examples_per_second"] > best[key]["examples_per_second"]:
                    best[key] = r
    return best


def compare(workload: str, best: dict, ours: str, precision: str, among: list[str], label: str) -> float | None:
    """Print ``ours / best baseline / ratio`` at one precision; the ratio, or None if nothing to compare."""
    pool = [best[(n, precision)] for n in among if (n, precision) in best]
    if (ours, precision) not in best or not pool:
        return None
    mine, top = best[(ours, precision)], max(pool, key=lambda r: r["examples_per_second"])
    ratio = mine["examples_per_second"] / top["examples_per_second"]
    print(f"{workload} {precision} {label}: {ours} {mine['examples_per_second']:.2f} ex/s / "
          f"{top['path']} {top['examples_per_second']:.2f} ex/s / ratio {ratio:.2f}x")
    return ratio


def report(args, best: dict, default_precision: str) -> bool:
    """The comparison lines; whether the aim is met at the precision ``tailorlm train`` picks."""
    names = [p[0] for p in PATHS[args.workload]]
    baselines = [n for n in names if not n.startswith("ours")]
    generative = [n for n in baselines if "seq-cls" not in n]
    headline = {}
    for precision in args.precisions:
        headline[precision] = compare(args.workload, best, "ours", precision, baselines, "vs best baseline")
        if "ours, lm head" in names:
            compare(args.workload, best, "ours, lm head", precision, generative, "lm head vs best generative baseline")
    mine = best.get(("ours", default_precision))
    default = best.get(("Trainer defaults", "fp32"))
    if mine and default:
        print(f"{args.workload} default arguments: ours ({default_precision}, as tailorlm train picks) "
              f"{mine['examples_per_second']:.2f} ex/s / Trainer defaults (fp32) {default['examples_per_second']:.2f} "
              f"ex/s / ratio {mine['examples_per_second'] / default['examples_per_second']:.2f}x")
    ratio, aim = headline.get(default_precision), AIMS[args.workload]
    ok = ratio is not None and ratio >= aim
    print(f"{'PASS' if ok else 'FAIL'}  {args.workload}: ours {ratio or 0:.2f}x the best baseline at "
          f"{default_precision} (the precision tailorlm train picks here), aim >= {aim:g}x")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", choices=sorted(PATHS), default="classification")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=3, help="optimizer steps per path (the first is warm-up)")
    ap.add_argument("--batch-size", type=int, help="rows per step (classification 16, generation 8)")
    ap.add_argument("--examples", type=int, help="rows to encode (classification 400, generation 160)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; each path keeps its best round")
    ap.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16 (bf16 autocast)")
    ap.add_argument("--baseline-precisions", help="precisions of the generative baselines (default: --precisions; "
                    "their fp32 steps are the slowest of the run)")
    ap.add_argument("--no-check", action="store_true", help="report the ratios but exit 0 when an aim is missed")
    ap.add_argument("--path", help=argparse.SUPPRESS)  # child process mode
    ap.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", default="/tmp/tailorlm-bench", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.batch_size = args.batch_size or BATCH[args.workload]
    args.examples = args.examples or EXAMPLES[args.workload]
    args.precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    args.baseline_precisions = ([p.strip() for p in args.baseline_precisions.split(",") if p.strip()]
                                if args.baseline_precisions else args.precisions)
    if args.path:
        print(json.dumps(child(args)))
        return 0
    import torch

    from tailorlm.train.speed import cpu_bf16_speedup, use_cpu_autocast

    from tailorlm.models.loader import cpu_supports_bf16

    speedup = cpu_bf16_speedup()
    default_precision = "bf16" if use_cpu_autocast(cpu_supports_bf16(), "auto") else "fp32"
    t0 = time.perf_counter()
    print(f"{args.workload}: batch {args.batch_size}, {args.steps} steps per path (1 warm-up), {args.rounds} rounds; "
          f"torch threads {torch.get_num_threads()}; bf16 autocast matmul {speedup:.2f}x fp32 -> tailorlm train "
          f"picks {default_precision}; load avg {os.getloadavg()[0]:.1f}", flush=True)
    best = measure(args)
    ok = report(args, best, default_precision)
    print(json.dumps({"workload": args.workload, "default_precision": default_precision, "bf16_speedup": speedup,
                      "load_avg_end": os.getloadavg(), "wall_seconds": time.perf_counter() - t0,
                      "results": list(best.values())}))
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
