"""Accuracy against CPU minutes on the many-label bench workload: each head and the classical baseline.

    python bench/classify.py                                   # the full workload (long on 2 cores)
    python bench/classify.py --train-limit 1500 --test-limit 400 --steps 60,120 --heads classifier,lm

One run trains and evaluates every configuration on the same split of the workload
(``bench/workloads/intents``: ``train.jsonl`` / ``test.jsonl``, ``{"id", "text", "label"}``):

* ``classical``: TF-IDF word 1-2 + char_wb 2-5 grams and a logistic regression (scikit-learn), the
  baseline every classification report carries;
* ``classifier`` head: the default model with a sequence-classification head and LoRA on the body,
  reading the message alone (``train.head: classifier``);
* ``lm`` head: LoRA on the language-model head with the instruction and label list in the prompt,
  evaluated with label-constrained decoding (``train.head: lm``);
* optionally ``base`` (zero-shot, constrained decoding) with ``--base``.

For each: accuracy, macro-F1, expected calibration error, training and evaluation wall seconds,
process CPU seconds (all threads) and training tokens/s. Writes ``<out>.json`` and ``<out>.png``
(accuracy against minutes; one line per head over ``--steps``). Results are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def sample(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    """``n`` rows drawn with ``seed``, stratified by label (every label keeps its share); 0 = all."""
    if not n or n >= len(rows):
        return rows
    rng = random.Random(seed)
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["label"], []).append(r)
    out = []
    for lab in sorted(by):
        group = by[lab][:]
        rng.shuffle(group)
        out.extend(group[:max(1, round(n * len(group) / len(rows)))])
    rng.shuffle(out)
    return out[:n]


def dataset_version(folder: Path, train: list[dict], test: list[dict], val_share: float = 0.05):
    """The rows as a dataset-version folder (the data stage's layout), validation cut from train."""
    import pandas as pd

    from tailorlm.results import DatasetVersion

    def rows(items, split):
        return [{"id": f"{split}-{r['id']}", "source": f"{split}.jsonl", "line": i + 1, "kind": "sft",
                 "prompt": json.dumps([{"role": "user", "content": r["text"]}]), "completion": r["label"],
                 "label": r["label"], "text": None, "chosen": None, "rejected": None, "cluster": str(i)}
                for i, r in enumerate(items)]

    n_val = max(1, int(len(train) * val_share))
    folder.mkdir(parents=True, exist_ok=True)
    for split, items in (("train", train[n_val:]), ("validation", train[:n_val]), ("test", test)):
        pd.DataFrame(rows(items, split)).to_parquet(folder / f"{split}.parquet", index=False)
    labels = sorted({r["label"] for r in train})
    return DatasetVersion(name="bench", version=folder.name, path=str(folder), labels=labels)


def classical(train: list[dict], test: list[dict]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    ), LogisticRegression(C=10.0, max_iter=2000))
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit([r["text"] for r in train], [r["label"] for r in train])
    pred = model.predict([r["text"] for r in test])
    y = [r["label"] for r in test]
    return {"system": "classical", "accuracy": accuracy_score(y, pred), "macro_f1": f1_score(y, pred, average="macro"),
            "train_seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "eval_seconds": 0.0}


def tailored(root: Path, ds, instruction: str, head: str, steps: int, args) -> dict:
    from tailorlm.evaluate import run_evaluation
    from tailorlm.spec import parse_spec
    from tailorlm.train import run_training
    from tailorlm.workspace import Workspace

    proj = root / f"{head}-{steps}"
    spec = parse_spec({
        "project": "bench", "data": {"sources": [{"path": "x.jsonl"}], "max_seq_len": 1024},
        "objective": {"task": "classification", "instruction": instruction},
        "train": {"method": "lora", "head": head, "max_steps": steps, "batch_size": args.batch_size,
                  "learning_rate": args.lr,
                  "eval_every": 10**6, "save_every": 10**6},
        "eval": {"systems": ["fine_tuned"], "batch_size": 32, "compliance": {"pii": False}},
    }, proj)
    ws = Workspace(proj)
    t0, c0 = time.perf_counter(), time.process_time()
    run = run_training(spec, ws, ds, progress=False)
    t1, c1 = time.perf_counter(), time.process_time()
    res = run_evaluation(spec, ws, ds, run, progress=False)
    m = res.systems["fine_tuned"]
    return {"system": f"{head} head (LoRA)", "head": head, "steps": steps, "accuracy": m["accuracy"],
            "macro_f1": m["macro_f1"], "expected_calibration_error": m.get("expected_calibration_error"),
            "train_seconds": t1 - t0, "eval_seconds": time.perf_counter() - t1,
            "cpu_seconds": time.process_time() - c0, "train_cpu_seconds": c1 - c0,
            "tokens_per_second": run.metrics["tokens_per_second"], "train_tokens": run.metrics["train_tokens"]}


def base_system(root: Path, ds, instruction: str) -> dict:
    from tailorlm.evaluate import run_evaluation
    from tailorlm.spec import parse_spec
    from tailorlm.workspace import Workspace

    proj = root / "base"
    spec = parse_spec({"project": "bench", "data": {"sources": [{"path": "x.jsonl"}]},
                       "objective": {"task": "classification", "instruction": instruction},
                       "eval": {"systems": ["base"], "batch_size": 32, "compliance": {"pii": False}}}, proj)
    t0, c0 = time.perf_counter(), time.process_time()
    m = run_evaluation(spec, Workspace(proj), ds, None, progress=False).systems["base"]
    return {"system": "base (constrained)", "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
            "expected_calibration_error": m.get("expected_calibration_error"), "train_seconds": 0.0,
            "eval_seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name in dict.fromkeys(r["system"] for r in results):
        pts = sorted(((r["train_seconds"] + r["eval_seconds"]) / 60, r["accuracy"]) for r in results
                     if r["system"] == name)
        ax.plot(*zip(*pts), "*" if name == "classical" else "o-", ms=10 if name == "classical" else 5, label=name)
    ax.set_xlabel("wall minutes (train + evaluate the test set), this machine")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Accuracy per CPU minute, many-label intents", fontsize=10)
    fig.savefig(out, dpi=100, bbox_inches="tight")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", type=Path, default=ROOT / "bench" / "workloads" / "intents")
    ap.add_argument("--train-limit", type=int, default=0, help="stratified sample of the training file (0 = all)")
    ap.add_argument("--test-limit", type=int, default=0, help="stratified sample of the test file (0 = all)")
    ap.add_argument("--steps", default="300", help="comma-separated training step counts per head")
    ap.add_argument("--heads", default="classifier,lm")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=None, help="train.learning_rate (default: the method's and head's)")
    ap.add_argument("--base", action="store_true", help="also the zero-shot base model (constrained decoding)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "classify")
    args = ap.parse_args(argv)
    import yaml

    train = sample(read_jsonl(args.workload / "train.jsonl"), args.train_limit)
    test = sample(read_jsonl(args.workload / "test.jsonl"), args.test_limit)
    instruction = yaml.safe_load((args.workload / "tailor.yaml").read_text())["objective"]["instruction"]
    results = [classical(train, test)]
    print(json.dumps(results[-1]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ds = dataset_version(Path(tmp) / "ds" / "bench", train, test)
        if args.base:
            results.append(base_system(Path(tmp), ds, instruction))
            print(json.dumps(results[-1]), flush=True)
        for head in args.heads.split(","):
            for steps in (int(s) for s in args.steps.split(",")):
                results.append(tailored(Path(tmp), ds, instruction, head, steps, args))
                print(json.dumps(results[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"train_rows": len(train), "test_rows": len(test), "labels": len({r["label"] for r in train}),
            "cpus": os.cpu_count(), "args": {k: str(v) for k, v in vars(args).items()}}
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    plot(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
