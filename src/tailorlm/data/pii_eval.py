"""Score PII detection against a labelled set (``tests/fixtures/pii/labelled.jsonl`` format).

A gold span counts as found when a predicted span of the same entity type overlaps it; recall
is reported per type and overall, precision over predicted spans of the types the set labels.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable


def load_labelled(path: str | Path) -> list[dict[str, Any]]:
    """Records with ``id``, ``text`` and gold ``spans`` (``start``, ``end``, ``entity_type``)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _overlaps(a: dict, b: Any) -> bool:
    return a["start"] < b.end and b.start < a["end"]


def score(records: list[dict[str, Any]], predictions: Iterable[list[Any]], types: set[str] | None = None
          ) -> dict[str, Any]:
    """Recall per type/overall and precision for predicted spans (objects with start/end/entity_type).

    Args:
        records: labelled records.
        predictions: per record, the predicted spans (Presidio ``RecognizerResult`` or alike).
        types: restrict scoring to these entity types (default: every labelled type).
    """
    gold_n, found_n = Counter(), Counter()
    pred_n = pred_ok = 0
    labelled = types or {s["entity_type"] for r in records for s in r["spans"]}
    for rec, preds in zip(records, predictions):
        preds = [p for p in preds if p.entity_type in labelled]
        gold = [s for s in rec["spans"] if s["entity_type"] in labelled]
        for g in gold:
            gold_n[g["entity_type"]] += 1
            found_n[g["entity_type"]] += any(p.entity_type == g["entity_type"] and _overlaps(g, p) for p in preds)
        pred_n += len(preds)
        pred_ok += sum(any(p.entity_type == g["entity_type"] and _overlaps(g, p) for g in gold) for p in preds)
    total = sum(gold_n.values())
    return {
        "recall": sum(found_n.values()) / max(total, 1),
        "precision": pred_ok / max(pred_n, 1),
        "per_type": {t: {"gold": gold_n[t], "found": found_n[t], "recall": found_n[t] / gold_n[t]} for t in sorted(gold_n)},
        "gold_spans": total,
    }
