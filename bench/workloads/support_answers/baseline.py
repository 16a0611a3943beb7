"""Nearest-training-answer floor on the support-answer workload, scored with ROUGE-L.

    python bench/workloads/support_answers/baseline.py

For each test prompt: the training prompt most similar by TF-IDF (word 1-2 + char_wb 2-5 grams,
cosine), and its answer as the prediction. Prints mean ROUGE-L F1 (``rouge-score``, stemming on)
against the reference answers, and the time taken.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rouge_score import rouge_scorer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_union

HERE = Path(__file__).resolve().parent


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def nearest_answers(train: list[dict], prompts: list[str]) -> list[str]:
    """The answer of the most similar training prompt for each prompt."""
    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    x_train = features.fit_transform([r["prompt"] for r in train])
    x_query = features.transform(prompts)
    # make_union concatenates two L2-normalised blocks, so the dot product is the mean cosine x 2.
    best = (x_query @ x_train.T).toarray().argmax(axis=1)
    return [train[i]["completion"] for i in best]


def main() -> int:
    train, test = load(HERE / "train.jsonl"), load(HERE / "test.jsonl")
    start = time.perf_counter()
    predictions = nearest_answers(train, [r["prompt"] for r in test])
    retrieve_s = time.perf_counter() - start
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [scorer.score(r["completion"], p)["rougeL"].fmeasure for r, p in zip(test, predictions)]
    same_intent = sum(p == q for p, q in zip(nearest_intents(train, test, predictions), [r["intent"] for r in test]))
    print(f"train={len(train)} test={len(test)}")
    print(f"rougeL={sum(scores) / len(scores):.4f} retrieved_same_intent={same_intent / len(test):.3f}")
    print(f"fit_and_retrieve_seconds={retrieve_s:.1f}")
    return 0


def nearest_intents(train: list[dict], test: list[dict], predictions: list[str]) -> list[str]:
    """The intent of each retrieved answer (answers are unique enough to look up)."""
    by_answer = {r["completion"]: r["intent"] for r in train}
    return [by_answer[p] for p in predictions]


if __name__ == "__main__":
    raise SystemExit(main())
