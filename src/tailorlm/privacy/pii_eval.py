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


# Entity groups of the acceptance figures (issue 16); a type outside them is reported on its own.
GROUPS: dict[str, tuple[str, ...]] = {
    "structured": ("CREDIT_CARD", "PHONE_NUMBER", "EMAIL_ADDRESS", "IBAN_CODE", "US_SSN", "IP_ADDRESS"),
    "names": ("PERSON",),
    "addresses": ("STREET_ADDRESS", "POSTCODE"),
    "dates_ages": ("DATE_OF_BIRTH", "AGE"),
    "titles_nationalities": ("TITLE", "NATIONALITY"),
    "places": ("LOCATION",),
}


def _covered(spans: Iterable[Any], n: int) -> list[bool]:
    mask = [False] * n
    for p in spans:
        for i in range(max(p.start, 0), min(p.end, n)):
            mask[i] = True
    return mask


def leak_score(records: list[dict[str, Any]], predictions: Iterable[list[Any]]) -> dict[str, Any]:
    """What redaction would leave behind: the share of labelled values gone, per type and group.

    A labelled value is *gone* when every letter and digit of it lies inside some predicted span
    (of any type: a phone number replaced as an account number is not leaked). Precision is the
    share of predicted spans that overlap a labelled value; ``unchanged`` is the share of
    records with no labelled value that get no predicted span at all (nothing would be
    replaced).

    Args:
        records: labelled records (``text``, ``spans``).
        predictions: per record, the predicted spans (objects with ``start`` and ``end``).
    """
    gold_n, gone_n = Counter(), Counter()
    pred_n = pred_ok = clean_n = clean_ok = 0
    for rec, preds in zip(records, predictions):
        text, gold = rec["text"], rec["spans"]
        mask = _covered(preds, len(text))
        for g in gold:
            gold_n[g["entity_type"]] += 1
            gone_n[g["entity_type"]] += all(mask[i] for i in range(g["start"], g["end"]) if text[i].isalnum())
        pred_n += len(preds)
        pred_ok += sum(any(g["start"] < p.end and p.start < g["end"] for g in gold) for p in preds)
        if not gold:
            clean_n += 1
            clean_ok += not preds
    groups = {}
    for name, types in GROUPS.items():
        n = sum(gold_n[t] for t in types)
        if n:
            groups[name] = {"gold": n, "gone": sum(gone_n[t] for t in types),
                            "recall": sum(gone_n[t] for t in types) / n}
    return {
        "per_type": {t: {"gold": gold_n[t], "gone": gone_n[t], "recall": gone_n[t] / gold_n[t]} for t in sorted(gold_n)},
        "groups": groups,
        "recall": sum(gone_n.values()) / max(sum(gold_n.values()), 1),
        "precision": pred_ok / max(pred_n, 1),
        "unchanged": clean_ok / max(clean_n, 1),
        "pii_free_records": clean_n,
    }
