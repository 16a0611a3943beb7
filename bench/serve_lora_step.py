"""Time decoding steps of one running batch: merged weights vs one LoRA version vs a mix of versions.

    python bench/serve_lora_step.py /tmp/serve-bench [--rows 16] [--steps 8] [--modes merged,one,mixed]

Uses the set-up of ``bench/serve_load.py --setup-default DIR`` (its 4 registered LoRA versions and
version 1's merged export). Every mode prefills the same ``--rows`` support prompts (rows take the
versions round-robin in the mixed modes) into a fresh :class:`~tailorlm.inference.batcher.RunningBatch`
and times ``--steps`` greedy decoding steps after ``--warm`` untimed ones, the modes taking turns
step by step (a busy machine slows them alike); per mode: ms per step (the fastest, and the
median) and, with ``--profile MODE``, the operators that took the most time in one step. Modes
(``-peft``: with PEFT's own adapter selection instead of :mod:`tailorlm.inference.lora_rows`;
``-cat``: the key/value cache concatenated every step, ``KV_ROOM`` 0):

- ``merged``: version 1 merged into its base (what the peer serves);
- ``one``: every row on version 1's adapter;
- ``mixed``: the rows spread over the versions, as the engine runs them;
- ``grouped``: the mix as one batch per version, stepped one after the other (grouping by version).

Then how many rows decoded the same greedy tokens in modes that should agree (merged vs one, each mode vs its ``-peft`` twin, mixed vs grouped).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch


PREFILL: dict[str, float] = {}


def _batch(model, prompts, adapters, pad, mode=""):
    """A running batch of ``prompts`` (each row on its adapter); the prefill's seconds add to PREFILL[mode]."""
    from tailorlm.inference.batcher import PrefixCache, RunningBatch, prefill_many

    batch = RunningBatch(model)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for pre, idx in prefill_many(model, prompts, adapters, PrefixCache(), pad):
            batch.join(pre, pre.logits.argmax(-1), [i for i in idx], [adapters[i] for i in idx])
    PREFILL[mode] = PREFILL.get(mode, 0.0) + time.perf_counter() - t0
    return batch


def _step(batches: list, ms: list, tokens: list, flag: tuple) -> None:
    """One greedy step of each of ``batches`` (one mode), timed together; tokens per row appended."""
    from tailorlm.inference import batcher

    batcher.LORA_ROWS, batcher.KV_ROOM = flag
    t0 = time.perf_counter()
    with torch.inference_mode():
        got = []
        for batch in batches:
            batch.nxt = batch.step().argmax(-1)
            got += batch.nxt.tolist()
    ms.append((time.perf_counter() - t0) * 1000)
    tokens.append(got)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", help="the folder of a bench/serve_load.py --setup-default run")
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warm", type=int, default=2)
    ap.add_argument("--modes", default="merged,one,one-peft,mixed,mixed-peft,grouped")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--profile", metavar="MODE", help="profile the first timed step of MODE")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).parent))
    from serve_load import support_prompts
    from serve_setup import setup_default

    from tailorlm.inference import batcher
    from tailorlm.models.trained import load_trained
    from tailorlm.serve.adapters import AdapterPool

    s = setup_default(Path(a.root))
    texts = support_prompts(str(s.project))
    runs = sorted((s.project / ".tailor" / "runs").glob("bench-lora-*/model"))
    pool = AdapterPool("cpu", "float32", max_adapters=len(runs))
    names = []
    for k, path in enumerate(runs):
        loaded, name = pool.get(f"v{k}", str(path))
        names.append(name)
    tok = loaded.tokenizer
    prompts = [tok(texts[i % len(texts)], add_special_tokens=False)["input_ids"] for i in range(a.rows)]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    print(f"{a.rows} rows, prompts {min(map(len, prompts))}-{max(map(len, prompts))} tokens, "
          f"{len(names)} adapters, torch threads {torch.get_num_threads()}")
    mix = [names[i % len(names)] for i in range(a.rows)]
    merged, room = None, batcher.KV_ROOM
    modes = {}  # mode -> (batches, rows of each in order, LORA_ROWS)
    for mode in a.modes.split(","):
        base_mode, _, how = mode.partition("-")
        if how not in ("", "peft", "cat"):
            ap.error(f"unknown mode {mode!r}")
        batcher.LORA_ROWS, batcher.KV_ROOM = flag = (how != "peft", 0 if how == "cat" else room)
        if base_mode == "merged":
            merged = merged or load_trained(str(s.merged), "cpu", "float32")
            modes[mode] = ([_batch(merged.model, prompts, [None] * a.rows, pad, mode)], list(range(a.rows)), flag)
        elif base_mode == "one":
            modes[mode] = ([_batch(loaded.model, prompts, [names[0]] * a.rows, pad, mode)], list(range(a.rows)), flag)
        elif base_mode == "mixed":
            modes[mode] = ([_batch(loaded.model, prompts, mix, pad, mode)], list(range(a.rows)), flag)
        elif base_mode == "grouped":
            groups = [[i for i in range(a.rows) if mix[i] == name] for name in names]
            modes[mode] = ([_batch(loaded.model, [prompts[i] for i in g], [names[k]] * len(g), pad, mode)
                            for k, g in enumerate(groups)], [i for g in groups for i in g], flag)
        else:
            ap.error(f"unknown mode {mode!r}")
    times = {m: [] for m in modes}
    tokens = {m: [] for m in modes}
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if a.profile else None
    for k in range(a.warm + a.steps):  # round-robin: a busy machine slows every mode alike
        for m, (batches, _, flag) in modes.items():
            if prof is not None and k == a.warm and m == a.profile:
                prof.__enter__()
            _step(batches, times[m] if k >= a.warm else [], tokens[m], flag)
            if prof is not None and k == a.warm and m == a.profile:
                prof.__exit__(None, None, None)
    batcher.LORA_ROWS, batcher.KV_ROOM = True, room
    results = {}
    for m, (batches, order, _) in modes.items():
        rows = [None] * a.rows
        for j, i in enumerate(order):
            rows[i] = [step[j] for step in tokens[m]]
        results[m] = (min(times[m]), rows)
        print(f"{m:>12}: {min(times[m]):8.1f} ms per step (min; median {statistics.median(times[m]):.1f}); "
              f"prefill {PREFILL[m] * 1000:.0f} ms"
              + (" (the versions' batches one after the other)" if m.startswith("grouped") else ""), flush=True)
    if prof is not None:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))
    pairs = [("merged", "merged-cat"), ("merged", "one"), ("one", "one-peft"), ("mixed", "mixed-peft"), ("mixed", "grouped"),
             ("mixed", "grouped-peft")]
    for x, y in pairs:
        if x in results and y in results:
            same = sum(p == q for p, q in zip(results[x][1], results[y][1]))
            print(f"rows with the same greedy tokens, {x} vs {y}: {same}/{a.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
