"""Classical baseline on the intent workload: TF-IDF (word 1-2 + char_wb 2-5 grams) + LogisticRegression.

    python bench/workloads/intents/baseline.py

Trains on ``train.jsonl``, scores ``test.jsonl``; prints accuracy, macro-F1 and the training time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline, make_union

HERE = Path(__file__).resolve().parent


def load(path: Path) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def build():
    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    return make_pipeline(features, LogisticRegression(C=10.0, max_iter=2000))


def main() -> int:
    x_train, y_train = load(HERE / "train.jsonl")
    x_test, y_test = load(HERE / "test.jsonl")
    model = build()
    start = time.perf_counter()
    model.fit(x_train, y_train)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = model.predict(x_test)
    predict_s = time.perf_counter() - start
    print(f"labels={len(set(y_train))} train={len(x_train)} test={len(x_test)}")
    print(f"accuracy={accuracy_score(y_test, pred):.4f} macro_f1={f1_score(y_test, pred, average='macro'):.4f}")
    print(f"train_seconds={train_s:.1f} predict_seconds={predict_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
