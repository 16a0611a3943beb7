"""Which training answer the retrieved-examples index shows a new message, scored without any model.

    python bench/retrieval_pick.py                      # a second draw of the support workload (seed 7)
    python bench/retrieval_pick.py --seed 20261202      # the committed workload's own draw (its test file)
    python bench/retrieval_pick.py --train my/train.jsonl --test my/valid.jsonl

A fine-tuned generation version sees one retrieved training example before each message
(``train.retrieved_examples``) and mostly copies it, so the example's answer bounds what the version
writes. This script builds the index three ways on the training rows and, for every test message,
copies the answer of the row it ranks first:

- ``nearest (TF-IDF)``: the ``classical`` floor's pick, the nearest user turn by TF-IDF;
- ``TF-IDF + answer groups``: the index as it was before sentence embeddings (``embeddings=False``);
- ``TF-IDF + embeddings + answer groups``: the default (``tailorlm.rag.examples.ExampleIndex.build``).

It prints ROUGE-L of the copied answer against the reference, and how often the pick has the message's
intent (and situation, when the rows carry a ``situation`` field). Without ``--train``/``--test`` it
regenerates the bench support workload with ``--seed`` and its situations (``generate.py --details``)
into a temporary folder. Tune on another seed than the committed one (20261202), whose test file is
the acceptance run's held-out data.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_jsonl(path: Path) -> list[dict]:
    """The records of ``path``; exits with the file and line of a record that is not JSON with a string
    ``prompt`` and ``completion``."""
    if not path.is_file():
        sys.exit(f"{path}: no such file")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            sys.exit(f"{path}:{n}: not JSON ({exc.msg}); one record per line")
        if not (isinstance(record, dict) and isinstance(record.get("prompt"), str)
                and isinstance(record.get("completion"), str)):
            sys.exit(f"{path}:{n}: needs string fields 'prompt' and 'completion' (prompt_completion records)")
        records.append(record)
    if not records:
        sys.exit(f"{path}: no records")
    return records


def as_row(record: dict, i: int) -> dict:
    """A prompt_completion record as the index reads a dataset row (a JSON chat of one user turn)."""
    return {"id": str(record.get("id", i)), "prompt": json.dumps([{"role": "user", "content": record["prompt"]}]),
            "completion": record["completion"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7, help="draw of the bench support workload (default 7)")
    ap.add_argument("--train", type=Path, help="training records (JSONL with prompt, completion)")
    ap.add_argument("--test", type=Path, help="held-out records to pick for (JSONL with prompt, completion)")
    args = ap.parse_args()
    if bool(args.train) != bool(args.test):
        ap.error("give both --train and --test, or neither (then the workload is regenerated)")

    from rouge_score import rouge_scorer

    from tailorlm.evaluate.metrics import UnicodeTokenizer
    from tailorlm.rag import ExampleIndex

    with tempfile.TemporaryDirectory() as tmp:
        if args.train:
            train, test = read_jsonl(args.train), read_jsonl(args.test)
            source = f"{args.train} / {args.test}"
        else:
            subprocess.run([sys.executable, str(HERE / "workloads/support_answers/generate.py"), "--seed",
                            str(args.seed), "--out", tmp, "--details"], check=True, stdout=subprocess.DEVNULL)
            train, test = read_jsonl(Path(tmp) / "train.jsonl"), read_jsonl(Path(tmp) / "test.jsonl")
            source = f"bench support workload, seed {args.seed}"
    rows = [as_row(r, i) for i, r in enumerate(train)]
    queries = [as_row(r, i) for i, r in enumerate(test)]
    by_id = dict(zip((r["id"] for r in rows), train))
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeTokenizer())
    print(f"{source}: {len(train)} training rows, {len(test)} messages")
    print(f"{'index':40s} {'build s':>8s} {'ROUGE-L':>8s} {'intent':>7s} {'+situation':>10s}")
    for name, make in [("nearest (TF-IDF)", lambda: ExampleIndex(rows)),
                       ("TF-IDF + answer groups", lambda: ExampleIndex.build(rows, embeddings=False)),
                       ("TF-IDF + embeddings + answer groups", lambda: ExampleIndex.build(rows))]:
        start = time.perf_counter()
        index = make()
        built = time.perf_counter() - start
        picks = [by_id[n[0]["id"]] for n in index.nearest(queries, 1)]
        rouge = sum(scorer.score(t["completion"], p["completion"])["rougeL"].fmeasure
                    for p, t in zip(picks, test)) / len(test)
        cols = [f"{name:40s} {built:8.1f} {rouge:8.4f}"]
        for keys in (("intent",), ("intent", "situation")):
            if all(k in t for t in test for k in keys):
                hit = sum(all(p.get(k) == t[k] for k in keys) for p, t in zip(picks, test)) / len(test)
                cols.append(f"{hit:7.1%}" if len(keys) == 1 else f"{hit:10.1%}")
        print(" ".join(cols), flush=True)


if __name__ == "__main__":
    main()
