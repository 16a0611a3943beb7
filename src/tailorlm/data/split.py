"""Seeded splits: stratified by label, group-aware (a near-duplicate cluster stays in one split)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

SPLITS = ("train", "validation", "test")


def assign_splits(
    groups: list[str],
    labels: list[str | None],
    validation: float,
    test: float,
    seed: int,
    stratify: bool = True,
) -> list[str]:
    """Split names for each record.

    Whole groups are assigned; groups are stratified by their first member's label, then shuffled
    with a seeded RNG and filled into test, then validation, up to their target sizes.

    Args:
        groups: group (cluster) id per record.
        labels: label per record (``None`` for non-classification data).
        validation, test: fractions of records.
        seed: RNG seed; same inputs and seed give the same split.
        stratify: stratify by label (classification).
    """
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    strata: dict[str, list[str]] = defaultdict(list)
    for g in sorted(members):
        strata[str(labels[members[g][0]]) if stratify else ""].append(g)
    rng = np.random.default_rng(seed)
    out = ["train"] * len(groups)
    for key in sorted(strata):
        gs = strata[key]
        order = rng.permutation(len(gs))
        size = sum(len(members[g]) for g in gs)
        targets = {"test": round(size * test), "validation": round(size * validation)}
        filled = {"test": 0, "validation": 0}
        for k in order:
            g = gs[k]
            n = len(members[g])
            name = next((s for s in ("test", "validation") if filled[s] + n <= targets[s] or
                         (filled[s] == 0 and targets[s] > 0 and n <= 2 * targets[s])), "train")
            if name != "train":
                filled[name] += n
            for i in members[g]:
                out[i] = name
    return out
