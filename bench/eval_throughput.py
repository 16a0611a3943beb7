"""Batched evaluation vs a one-example-at-a-time ``generate`` loop, same model, same examples, same run.

    python bench/eval_throughput.py                       # SmolLM2-135M-Instruct, 64 support messages
    python bench/eval_throughput.py --n 128 --dataset .tailor/datasets/<name>/<version>

Both paths build prompts with ``tailorlm.prompting.build_messages`` (classification, the support
template's labels) and decode greedily with the same ``max_new_tokens``; the batched path is
``tailorlm.inference.generate`` (length-sorted batches, left padding, shared-prefix KV cache, stop when
every row hit EOS), the baseline calls ``model.generate`` once per example. The script checks the
answers agree and prints examples/s for both and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# Before torch loads: with OpenMP's default active spin-waiting, a 2-core machine shared with other
# processes runs up to 10x slower (threads spin while their partner core is taken).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def support_rows(n: int) -> tuple[list[dict], list[str]]:
    """``n`` messages of the support template's synthetic corpus as dataset rows, and the labels."""
    from tailorlm.templates.support.generate import INTENTS, generate_corpus

    rows = []
    for item in generate_corpus(max(200, 2 * n), seed=13)[0]:
        rec = item.get("record")
        if isinstance(rec, dict) and isinstance(rec.get("text"), str) and rec.get("intent") in INTENTS:
            rows.append({"id": rec["id"], "prompt": json.dumps([{"role": "user", "content": rec["text"]}]),
                         "completion": rec["intent"]})
    return rows[:n], sorted(INTENTS)


def dataset_rows(path: str, n: int) -> tuple[list[dict], list[str]]:
    import pandas as pd

    df = pd.read_parquet(os.path.join(path, "test.parquet")).head(n)
    return df.to_dict("records"), sorted(str(x) for x in df["completion"].unique())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n", type=int, default=64, help="test examples")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--dataset", help="a dataset version folder (uses its test.parquet)")
    ap.add_argument("--autocast", default="off", choices=["auto", "on", "off"])
    args = ap.parse_args()

    import torch

    from tailorlm.evaluate.runner import max_new_tokens
    from tailorlm.inference import encode_chats, generate, generate_one_by_one
    from tailorlm.models import load_base
    from tailorlm.prompting import build_messages
    from tailorlm.spec import ObjectiveSpec

    rows, labels = dataset_rows(args.dataset, args.n) if args.dataset else support_rows(args.n)
    loaded = load_base(args.model)
    objective = ObjectiveSpec(task="classification")
    prompts = encode_chats(loaded.tokenizer, [build_messages(r, objective, labels) for r in rows])
    spec_like = type("S", (), {"eval": type("E", (), {"max_new_tokens": 0})(), "objective": objective})()
    budget = max_new_tokens(spec_like, loaded.tokenizer, labels)
    print(f"model {args.model}, {len(rows)} examples, mean prompt {sum(map(len, prompts)) / len(prompts):.0f} tokens, "
          f"max_new_tokens {budget}, torch threads {torch.get_num_threads()}, autocast {args.autocast}", flush=True)

    # Warm-up on 4 examples (both paths), so one-time kernel setup is not charged to either path.
    generate(loaded, prompts[:4], max_new_tokens=budget, batch_size=4, progress=False, autocast=args.autocast)
    generate_one_by_one(loaded, prompts[:2], max_new_tokens=budget, progress=False, autocast=args.autocast)

    t0 = time.perf_counter()
    batched = generate(loaded, prompts, max_new_tokens=budget, batch_size=args.batch_size, progress=False,
                       autocast=args.autocast)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = generate_one_by_one(loaded, prompts, max_new_tokens=budget, progress=False, autocast=args.autocast)
    t_single = time.perf_counter() - t0

    agree = sum(a.text == b.text for a, b in zip(batched, single)) / len(rows)
    print(f"batched     {t_batched:7.1f} s  {len(rows) / t_batched:6.2f} examples/s")
    print(f"one-by-one  {t_single:7.1f} s  {len(rows) / t_single:6.2f} examples/s")
    print(f"speed-up    {t_single / t_batched:.1f}x   answers identical: {agree:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
