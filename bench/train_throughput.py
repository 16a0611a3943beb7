"""Training throughput: tailorlm's LoRA SFT path vs a plain transformers Trainer + PEFT LoRA.

Both paths train LoRA (r=16, alpha=32, all-linear) on the default model (SmolLM2-135M-Instruct) with
the same examples from the support template (the demo data), formatted by the same
``encode_sft`` (chat template, loss on the answer + EOS), batch size 16:

* **ours**: ``tailorlm.train.loop.run_loop`` set up by the same ``_setup`` as ``tailorlm train`` (LoRA
  wrapping, AdamW, LR schedule, per-step ``metrics.jsonl``/TensorBoard logging included): bf16 autocast
  only where measured faster than fp32 (not on the 2-vCPU dev machine), length-grouped batches,
  LM head only where a label is predicted, the shared system-prompt prefix computed once per batch;
* **baseline**: ``transformers.Trainer`` with default ``TrainingArguments`` (fp32, random order),
  ``DataCollatorForSeq2Seq`` (pads to the longest in the batch), no packing.

Each path runs in its own child process (so peak RSS is its own); the first step is warm-up and is
not timed. On a shared machine the paths alternate for ``--rounds`` rounds and each keeps its best
round (the least disturbed one). Tokens are real (non-pad) example tokens, so the two rates compare the same work.
MFU uses model FLOPs per token = 4 x (matmul parameters) (forward 2N + input-gradient backward 2N;
LoRA's own weight gradients are negligible) against the bf16 matmul peak measured in this run; for
"ours" it is an *effective* MFU, since the skipped work (shared prefix, unused logits) is credited;
the HW columns count only the FLOPs actually computed (against the bf16 and the fp32 matmul peak).

Usage::

    python bench/train_throughput.py            # prints a table and one JSON line
    python bench/train_throughput.py --steps 6 --examples 2400
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

INSTRUCTION = ("You are a support assistant at Northwind Bank. Read the customer's message and answer with the "
               "one intent label that fits it best, exactly as written in the list.")


def examples(n: int) -> tuple[list[dict], list[str]]:
    """Valid, labelled messages of the support template as dataset rows."""
    from tailorlm.templates.support.generate import generate_corpus

    rows, _ = generate_corpus(n_messages=max(n, 200), seed=13)
    out = []
    for i, line in enumerate(rows):
        r = line.get("record")
        if isinstance(r, dict) and isinstance(r.get("text"), str) and r["text"].strip() and r.get("intent"):
            out.append({"id": str(r.get("id", i)), "completion": r["intent"],
                        "prompt": json.dumps([{"role": "user", "content": r["text"]}])})
    return out, sorted({r["completion"] for r in out})


def encoded(n: int, tokenizer):
    from tailorlm.spec import ObjectiveSpec
    from tailorlm.train.tokenize import encode_sft

    rows, labels = examples(n)
    obj = ObjectiveSpec(task="classification", instruction=INSTRUCTION)
    return [encode_sft(r, tokenizer, obj, labels) for r in rows]


def matmul_peak(dtype_name: str, n: int = 1536, reps: int = 5) -> float:
    """Best observed FLOP/s of an n x n x n matmul in ``dtype`` on this CPU."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t))
    return best


def matmul_params(model) -> int:
    import torch

    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def run_ours(args) -> dict:
    """The real training loop (``tailorlm.train.loop.run_loop``, as ``tailorlm train`` sets it up), timed
    from its own per-step log (``metrics.jsonl`` rows: tokens and tokens/s per optimizer step)."""
    from pathlib import Path

    import torch

    from tailorlm.models import load_base
    from tailorlm.spec import TailorSpec
    from tailorlm.train.collate import collate, plan_batches
    from tailorlm.train.loop import run_loop, shared_prefix_len
    from tailorlm.train.run import _setup

    torch.manual_seed(0)
    spec = TailorSpec.model_validate({
        "project": "bench", "data": {"sources": [{"path": "unused.jsonl"}]},
        "model": {"base": args.model, "dtype": args.dtype},
        "train": {"method": "lora", "batch_size": args.batch_size, "max_steps": args.steps,
                  "eval_every": 10 ** 6, "save_every": 10 ** 6},
    })
    lm = load_base(args.model, dtype=args.dtype)
    encs = encoded(args.examples, lm.tokenizer)
    n_mm = matmul_params(lm.model)
    rows = [[e] for e in encs]
    model, opt, sched, cfg = _setup(spec, lm, {"train": rows}, packed=False, progress=False, accelerator=None)
    run_dir = Path(args.tmp) / f"ours-run-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    result = run_loop(model, opt, sched, rows, [], cfg, run_dir)
    steps = [r for r in result.history if "tokens_per_second" in r]
    cumulative = [r["tokens"] for r in steps]
    tokens = [b - a for a, b in zip([0] + cumulative, cumulative)]
    times = [n / r["tokens_per_second"] for n, r in zip(tokens, steps)]
    # FLOPs actually computed, from the same deterministic batch plan the loop used.
    head = lm.model.get_output_embeddings().weight.numel()  # untied or tied: the V x d projection
    plan = plan_batches([len(e) for e in encs], spec.train.batch_size, spec.train.seed, 0, spec.train.group_by_length)
    done = []
    for k in range(len(steps)):
        batch = collate([rows[i] for i in plan[k]], lm.tokenizer.pad_token_id, packed=False)
        p = shared_prefix_len(batch) if cfg.share_prefix else 0
        kept = (len(batch.keep) if batch.keep is not None else batch.input_ids.shape[1]) * batch.input_ids.shape[0]
        run_tokens = p + batch.n_tokens - p * batch.input_ids.shape[0]  # prefix once, suffixes per row
        done.append(4 * ((n_mm - head) * run_tokens + head * kept))
    out = _summary("ours", times, tokens, n_mm, bool(lm.autocast_bf16) and cfg.autocast == lm.autocast)
    out["computed_flops_per_second"] = sum(done[1:]) / sum(times[1:])
    return out


def run_baseline(args) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments

    from tailorlm.models import load_base

    torch.manual_seed(0)
    lm = load_base(args.model, dtype="float32")
    encs = encoded(args.examples, lm.tokenizer)
    n_mm = matmul_params(lm.model)
    model = get_peft_model(lm.model, LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, lora_dropout=0.05,
                                                target_modules="all-linear"))
    data = [{"input_ids": e.input_ids, "attention_mask": [1] * len(e), "labels": e.labels} for e in encs]
    seq2seq = DataCollatorForSeq2Seq(lm.tokenizer, padding="longest")
    step_tokens: list[int] = []

    def collator(features):
        step_tokens.append(sum(len(f["input_ids"]) for f in features))
        return seq2seq(features)

    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            stamps.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            stamps.append(time.perf_counter())

    targs = TrainingArguments(output_dir=os.path.join(args.tmp, "baseline"), per_device_train_batch_size=args.batch_size,
                              max_steps=args.steps, use_cpu=True, report_to=[], save_strategy="no",
                              logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0)
    Trainer(model=model, args=targs, train_dataset=data, data_collator=collator, callbacks=[Clock()]).train()
    times = [stamps[2 * i + 1] - stamps[2 * i] for i in range(args.steps)]
    return _summary("baseline", times, step_tokens[: args.steps], n_mm, False)


def _summary(name: str, times: list[float], tokens: list[int], n_mm: int, bf16: bool) -> dict:
    t, n = sum(times[1:]), sum(tokens[1:])  # step 1 is warm-up
    return {"path": name, "tokens_per_second": n / t, "timed_steps": len(times) - 1, "timed_tokens": n,
            "seconds": t, "flops_per_token": 4 * n_mm, "bf16_autocast": bf16,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                    help="model.dtype for our path (auto: what tailorlm train picks on this machine)")
    ap.add_argument("--steps", type=int, default=4, help="steps per path (the first is warm-up)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--examples", type=int, default=400, help="support messages to generate")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; each path's best round is kept")
    ap.add_argument("--path", choices=["ours", "baseline"], help=argparse.SUPPRESS)  # child process mode
    ap.add_argument("--tmp", default="/tmp/tailorlm-bench", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.path:
        print(json.dumps((run_ours if args.path == "ours" else run_baseline)(args)))
        return
    import torch

    # The machine may be shared: alternate the two paths for --rounds rounds, keep each path's best
    # round, and take the matmul peaks as the best seen across the run.
    peaks = {"bfloat16": 0.0, "float32": 0.0}
    results: dict[str, dict] = {}
    for _ in range(args.rounds):
        for path in ("ours", "baseline"):
            for dt in peaks:
                peaks[dt] = max(peaks[dt], matmul_peak(dt))
            cmd = [sys.executable, __file__, "--path", path, "--steps", str(args.steps), "--batch-size",
                   str(args.batch_size), "--examples", str(args.examples), "--model", args.model, "--dtype", args.dtype]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if path not in results or r["tokens_per_second"] > results[path]["tokens_per_second"]:
                results[path] = r
    peak_bf16, peak_fp32 = peaks["bfloat16"], peaks["float32"]
    for r in results.values():
        r["mfu_vs_bf16_peak"] = r["tokens_per_second"] * r["flops_per_token"] / peak_bf16
        # FLOPs the hardware actually did (ours skips work; the baseline does all of it).
        r["hw_util_vs_bf16_peak"] = r.get("computed_flops_per_second", r["tokens_per_second"] * r["flops_per_token"]) / peak_bf16
        r["hw_util_vs_fp32_peak"] = r["hw_util_vs_bf16_peak"] * peak_bf16 / peak_fp32
    ratio = results["ours"]["tokens_per_second"] / results["baseline"]["tokens_per_second"]
    print(f"threads {torch.get_num_threads()}  bf16 matmul peak {peak_bf16 / 1e9:.1f} GFLOP/s  "
          f"fp32 {peak_fp32 / 1e9:.1f} GFLOP/s  load avg {os.getloadavg()[0]:.1f}")
    print(f"{'path':10} {'tokens/s':>10} {'peak RSS MB':>12} {'MFU(bf16)':>10} {'HW(bf16)':>9} {'HW(fp32)':>9}")
    for r in results.values():
        print(f"{r['path']:10} {r['tokens_per_second']:10.1f} {r['peak_rss_mb']:12.0f} {100 * r['mfu_vs_bf16_peak']:9.1f}% "
              f"{100 * r['hw_util_vs_bf16_peak']:8.1f}% {100 * r['hw_util_vs_fp32_peak']:8.1f}%")
    print(f"speedup (ours / baseline): {ratio:.2f}x")
    print(json.dumps({"ratio": ratio, "peak_bf16_flops": peak_bf16, "peak_fp32_flops": peak_fp32,
                      "load_avg": os.getloadavg()[0], **results}))


if __name__ == "__main__":
    main()
