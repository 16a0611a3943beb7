"""Readable confusion at many labels: the most-confused label pairs, each with example messages.

A 77 x 77 matrix cannot be read on a page; the pairs a model mixes up most, with a few of the test
messages it got wrong, say what to fix (merge two intents, add examples, reword a label). The full
matrix stays available as a linked image (``plots/confusion.png``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Sequence

from ..prompting import normalize_answer

# Above this many labels the matrix is written as a separate, linked image instead of embedded.
EMBED_MAX_LABELS = 20


def most_confused(records: Sequence[dict[str, Any]], n: int = 15, examples: int = 3) -> list[dict[str, Any]]:
    """The ``n`` most frequent (true label, predicted label) errors, most frequent first.

    Args:
        records: one system's prediction rows (``reference``, ``prediction``, ``input``, ``id``).
        n: pairs to return.
        examples: example inputs kept per pair (the first ones in test order).

    Returns:
        Dicts with ``true``, ``predicted``, ``count``, ``share`` (of the true label's test examples)
        and ``examples`` (``{"id", "input"}``).
    """
    support = Counter(normalize_answer(r["reference"]) for r in records)
    pairs: Counter = Counter()
    shown: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in records:
        t, p = normalize_answer(r["reference"]), normalize_answer(r["prediction"])
        if t == p:
            continue
        pairs[(t, p)] += 1
        if len(shown[(t, p)]) < examples:
            shown[(t, p)].append({"id": str(r.get("id")), "input": str(r.get("input", ""))[:200]})
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [{"true": t, "predicted": p or "(empty)", "count": c, "share": c / support[t] if support[t] else 0.0,
             "examples": shown[(t, p)]} for (t, p), c in ranked]
