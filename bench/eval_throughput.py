"""Our evaluation engine vs what a competent user runs, same model, same examples, same run.

    python bench/eval_throughput.py                       # SmolLM2-135M-Instruct, 64 support messages
    python bench/eval_throughput.py --n 128 --dataset .tailor/datasets/<name>/<version>
    python bench/eval_throughput.py --n 24 --no-check     # a quick look; report only

Every path builds prompts with ``tailorlm.prompting.build_messages`` (classification, the support
template's labels) and decodes greedily with the same ``max_new_tokens``:

* **ours**: ``tailorlm.inference.generate``, the serving engine (continuous batching of
  length-sorted jobs, joining jobs prefilled together from the shared prompt prefix's KV cache);
* **static batches** (the earlier evaluation path): ``tailorlm.inference.generate_static``, fixed
  length-sorted batches with the prefix cache, each decoded until every row hit EOS;
* **batched generate** (the competent baseline): the same length-sorted batches of Hugging Face
  ``model.generate`` with left padding, and no prefix cache;
* **one-by-one**: ``model.generate`` once per example (the naive loop).

Prints one line per comparison, ``ours / baseline / ratio``, against the best baseline first, and
exits 1 when ours is below ``--aim`` times the best baseline (``--no-check``: report only). Also
prints the share of answers identical to each baseline's.
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


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n", type=int, default=64, help="test examples")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--dataset", help="a dataset version folder (uses its test.parquet)")
    ap.add_argument("--autocast", default="off", choices=["auto", "on", "off"])
    ap.add_argument("--aim", type=float, default=1.5, help="ours must reach this many times the best baseline")
    ap.add_argument("--no-check", action="store_true", help="report the ratios but exit 0 even when the aim is missed")
    args = ap.parse_args(argv)

    import torch

    from tailorlm.evaluate.runner import max_new_tokens
    from tailorlm.inference import encode_chats, generate, generate_one_by_one, generate_static
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
          f"max_new_tokens {budget}, batch {args.batch_size}, torch threads {torch.get_num_threads()}, "
          f"autocast {args.autocast}", flush=True)
    kw = {"max_new_tokens": budget, "progress": False, "autocast": args.autocast}
    paths = {
        "ours": lambda p, b: generate(loaded, p, batch_size=b, **kw),
        "static batches (the earlier eval path)": lambda p, b: generate_static(loaded, p, batch_size=b, **kw),
        "batched generate (left padding, no prefix cache)":
            lambda p, b: generate(loaded, p, batch_size=b, prefix_cache=False, **kw),
        "one-by-one generate": lambda p, b: generate_one_by_one(loaded, p, **kw),
    }
    for run in paths.values():  # warm-up, so one-time kernel setup is charged to no path
        run(prompts[:4], 4)
    results = {name: _timed(lambda run=run: run(prompts, args.batch_size)) for name, run in paths.items()}
    rate = {name: len(rows) / secs for name, (_, secs) in results.items()}
    ours_gens = results["ours"][0]
    baselines = sorted((n for n in paths if n != "ours"), key=lambda n: -rate[n])
    ratio = rate["ours"] / rate[baselines[0]]
    for rank, name in enumerate(baselines):
        same = sum(a.text == b.text for a, b in zip(ours_gens, results[name][0])) / len(rows)
        label = "best baseline" if rank == 0 else "baseline"
        print(f"ours {rate['ours']:.2f} ex/s / {label} {name} {rate[name]:.2f} ex/s / ratio "
              f"{rate['ours'] / rate[name]:.2f}x   (answers identical to it: {same:.0%})")
    ok = ratio >= args.aim
    print(f"{'PASS' if ok else 'FAIL'}  ours {ratio:.2f}x the best baseline ({baselines[0]}), aim >= {args.aim:g}x")
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
