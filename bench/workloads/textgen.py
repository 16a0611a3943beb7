"""Tiny phrase-template engine shared by the bench workload generators (stdlib only).

Template syntax, expanded with a seeded ``random.Random``:

* ``(a|b|c)``: one alternative, nested groups allowed;
* ``[x]``: optional, kept with probability 1/2;
* ``{slot}``: a value from the slot table given to :func:`expand` (a list of strings, or a
  callable ``rng -> str``); slot values are expanded again, so they may use the syntax too.

Whitespace runs are collapsed and spaces before punctuation removed after expansion.
"""

from __future__ import annotations

import random
import re
from typing import Callable, Mapping, Sequence, Union

SlotValue = Union[Sequence[str], Callable[[random.Random], str]]


def _parse_group(t: str, i: int, close: str) -> tuple[list[str], int]:
    """Split the group starting after index ``i`` at its top-level ``|``; return (parts, end index)."""
    depth, start, parts = 0, i, []
    while i < len(t):
        c = t[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            if depth == 0:
                parts.append(t[start:i])
                return parts, i
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(t[start:i])
            start = i + 1
        i += 1
    raise ValueError(f"unbalanced group in template: {t!r}")


def _choose(t: str, rng: random.Random) -> str:
    """Resolve every ``(..|..)`` and ``[..]`` group of ``t``, innermost choices recursively."""
    out, i = [], 0
    while i < len(t):
        c = t[i]
        if c == "(":
            parts, end = _parse_group(t, i + 1, ")")
            out.append(_choose(rng.choice(parts), rng))
            i = end + 1
        elif c == "[":
            parts, end = _parse_group(t, i + 1, "]")
            if rng.random() < 0.5:
                out.append(_choose("|".join(parts), rng))
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


_SLOT = re.compile(r"\{(\w+)\}")


def expand(template: str, rng: random.Random, slots: Mapping[str, SlotValue], depth: int = 0) -> str:
    """Expand one template into a concrete string."""
    text = _choose(template, rng)

    def fill(m: re.Match) -> str:
        value = slots[m.group(1)]
        picked = value(rng) if callable(value) else rng.choice(list(value))
        return expand(picked, rng, slots, depth + 1) if depth < 3 else picked

    text = _SLOT.sub(fill, text)
    return tidy(text)


def tidy(text: str) -> str:
    """Collapse whitespace and drop spaces before punctuation."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([,.?!:;])(?=\s|$)", r"\1", text)


def capitalise_first(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def split_holdout(items: Sequence[str], rng: random.Random, frac: float, min_keep: int = 2) -> tuple[list, list]:
    """Partition ``items`` into (shared, held_out): about ``frac`` of them held out, at least one,
    and at least ``min_keep`` kept for training."""
    idx = list(range(len(items)))
    rng.shuffle(idx)
    n_hold = max(1, round(len(items) * frac))
    n_hold = min(n_hold, max(0, len(items) - min_keep))
    held = sorted(idx[:n_hold])
    keep = sorted(idx[n_hold:])
    return [items[i] for i in keep], [items[i] for i in held]


# Greetings and sign-offs that tailorlm's near-duplicate check ignores (spec/data.py COURTESY_PHRASES).
COURTESY = ("thanks", "thank you", "thanks a lot", "thank you so much", "thanks so much", "many thanks", "thx",
            "ty", "cheers", "please", "pls", "plz", "hi", "hiya", "hello", "hey", "dear", "good morning",
            "good afternoon", "good evening", "morning", "regards", "kind regards", "best regards", "best")
_COURTESY = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, COURTESY), key=len, reverse=True)) + r")\b")


class NearDupGuard:
    """Rejects a text that tailorlm's default curation would drop as a (near-)duplicate of one kept.

    It mirrors ``tailorlm.data.dedup`` closely enough for generated data to survive it: texts are
    compared lower-cased without punctuation or courtesy phrases, with the values that PII
    scrubbing would replace (``masked``: names, merchants, places) masked; duplicates are the same
    text, short texts (4-12 words) one word apart, or texts in the same ``group`` with character
    5-gram Jaccard >= ``threshold``.
    """

    def __init__(self, masked: Sequence[str] = (), threshold: float = 0.75, max_edit_words: int = 12):
        values = sorted({m.lower() for m in masked if m.strip()}, key=len, reverse=True)
        self._mask = re.compile(r"\b(?:" + "|".join(map(re.escape, values)) + r")\b") if values else None
        self.threshold, self.max_edit_words = threshold, max_edit_words
        self._keys: set[str] = set()
        self._shingles: dict[str, list[set[str]]] = {}

    def norm(self, text: str) -> str:
        t = text.lower()
        if self._mask:
            t = self._mask.sub(" xx ", t)
        t = " ".join(re.sub(r"[^\w]+", " ", t).split())
        return " ".join(_COURTESY.sub(" ", t).split())

    def _edit_keys(self, norm: str) -> list[str]:
        words = norm.split()
        if not 4 <= len(words) <= self.max_edit_words:
            return ["=" + norm]
        return ["=" + norm] + ["-" + " ".join(words[:k] + words[k + 1:]) for k in range(len(words))]

    def admit(self, text: str, group: str = "") -> bool:
        """Record ``text`` and return True, or return False when it duplicates a recorded text."""
        norm = self.norm(text)
        if not norm:
            return False
        keys = self._edit_keys(norm)
        if any(k in self._keys for k in keys):
            return False
        grams = {norm[i:i + 5] for i in range(max(1, len(norm) - 4))}
        for other in self._shingles.get(group, []):
            if len(grams & other) >= self.threshold * len(grams | other):
                return False
        self._keys.update(keys)
        self._shingles.setdefault(group, []).append(grams)
        return True
