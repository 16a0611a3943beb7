"""The ``classical`` system: what a competent sceptic runs before fine-tuning an LLM.

* **classification**: TF-IDF features of word 1-2-grams and character 2-5-grams (within word
  boundaries) with a multinomial logistic regression, trained on the training split. ``C`` is
  picked on the validation split from a small grid when there is one (a sceptic would tune it),
  else ``C = 10``. Each answer comes with the model's probability.
* **generation, chat, extraction**: the nearest training answer: the training example whose
  user turns are most similar (TF-IDF cosine over the same features) to the test example's, and
  its stored answer copied. A fine-tuned model that cannot beat copying has learnt nothing useful.

Both run on scikit-learn in seconds; the training time is reported as the system's ``fit_seconds``
and every answer's latency is its share of the batched prediction time. No LLM is involved, so
the prompt and completion token counts are 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..rag import similarity_features
from ..rag.index import example_query

C_GRID = (1.0, 10.0, 100.0)


@dataclass
class ClassicalAnswer:
    """One answer, shaped like :class:`tailorlm.inference.Generation` so scoring treats it alike.

    Attributes:
        text: the predicted label or the copied training answer.
        probability: the classifier's probability of ``text`` (classification), else None.
        probs: every label's probability (classification), for calibration and the top labels.
        neighbour: id of the training example copied (generation), else None.
    """

    text: str
    latency_ms: float
    probability: float | None = None
    probs: dict[str, float] = field(default_factory=dict)
    neighbour: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finished: bool = True


def _label(row: dict[str, Any]) -> str:
    return str(row.get("label") if row.get("label") is not None else row.get("completion", "")).strip()


def fit_classifier(train_rows: Sequence[dict[str, Any]], validation_rows: Sequence[dict[str, Any]] = (),
                   seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """TF-IDF + logistic regression on the training split; returns (pipeline, fit info)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    t0 = time.perf_counter()
    x = [example_query(r) for r in train_rows]
    y = [_label(r) for r in train_rows]

    def make(c: float) -> Pipeline:
        return Pipeline([("tfidf", similarity_features()), ("clf", LogisticRegression(C=c, max_iter=2000, random_state=seed))])

    grid: dict[float, float] = {}
    best_c = 10.0
    if validation_rows and len(set(y)) > 1:
        xv, yv = [example_query(r) for r in validation_rows], [_label(r) for r in validation_rows]
        for c in C_GRID:
            grid[c] = float(make(c).fit(x, y).score(xv, yv))
        best_c = max(grid, key=lambda c: (grid[c], -c))
    if len(set(y)) < 2:  # one label: logistic regression cannot fit; answer it always
        from sklearn.dummy import DummyClassifier

        model = Pipeline([("tfidf", similarity_features()), ("clf", DummyClassifier(strategy="most_frequent"))]).fit(x, y)
    else:
        model = make(best_c).fit(x, y)
    info = {"model": "tfidf(word 1-2, char_wb 2-5) + logistic regression", "C": best_c,
            "validation_accuracy_by_C": {f"{c:g}": round(a, 4) for c, a in grid.items()},
            "fit_seconds": round(time.perf_counter() - t0, 3), "train_examples": len(x)}
    return model, info


def predict_labels(model: Any, rows: Sequence[dict[str, Any]]) -> list[ClassicalAnswer]:
    """The most probable label per row, with its probability."""
    if not rows:
        return []
    t0 = time.perf_counter()
    probs = model.predict_proba([example_query(r) for r in rows])
    classes = list(model.classes_)
    ms = (time.perf_counter() - t0) * 1000.0 / len(rows)
    best = probs.argmax(axis=1)
    return [ClassicalAnswer(text=str(classes[k]), latency_ms=ms, probability=float(p[k]),
                            probs={str(c): float(v) for c, v in zip(classes, p)}) for k, p in zip(best, probs)]


def nearest_answers(train_rows: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> tuple[list[ClassicalAnswer], dict]:
    """For each row, the answer of the training example with the most similar user turns."""
    from sklearn.metrics.pairwise import linear_kernel

    t0 = time.perf_counter()
    feats = similarity_features()
    index = feats.fit_transform([example_query(r) for r in train_rows])
    fit_s = time.perf_counter() - t0
    if not rows:
        return [], {"model": "nearest training answer (tfidf cosine)", "fit_seconds": round(fit_s, 3)}
    t1 = time.perf_counter()
    out: list[ClassicalAnswer] = []
    queries = feats.transform([example_query(r) for r in rows])
    for start in range(0, queries.shape[0], 256):  # bounded memory: 256 x n_train similarities at a time
        sims = linear_kernel(queries[start:start + 256], index)
        for k in sims.argmax(axis=1):
            hit = train_rows[int(k)]
            out.append(ClassicalAnswer(text=str(hit.get("completion") or ""), latency_ms=0.0,
                                       neighbour=str(hit.get("id"))))
    ms = (time.perf_counter() - t1) * 1000.0 / len(rows)
    for a in out:
        a.latency_ms = ms
    return out, {"model": "nearest training answer (tfidf cosine)", "fit_seconds": round(fit_s, 3),
                 "train_examples": len(train_rows)}


def classical_answers(task: str, train_rows: Sequence[dict[str, Any]], validation_rows: Sequence[dict[str, Any]],
                      test_rows: Sequence[dict[str, Any]], seed: int = 0) -> tuple[list[ClassicalAnswer], dict]:
    """The classical system's answers for the test rows and how it was fitted."""
    if not train_rows:
        raise ValueError("the classical system needs a non-empty training split")
    if task == "classification":
        model, info = fit_classifier(train_rows, validation_rows, seed)
        return predict_labels(model, test_rows), info
    return nearest_answers(train_rows, test_rows)
