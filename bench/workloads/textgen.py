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
