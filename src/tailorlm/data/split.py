"""Seeded splits: stratified by label, group-aware (a near-duplicate cluster stays in one split)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

SPLITS = ("train", "validation", "test")
TRAIN, VALIDATION, TEST = range(3)


def assign_splits(
    groups: Sequence | np.ndarray,
    labels: Sequence | np.ndarray,
    validation: float,
    test: float,
    seed: int,
    stratify: bool = True,
) -> np.ndarray:
    """Split code (0 train, 1 validation, 2 test; see :data:`SPLITS`) for each record.

    Whole groups are assigned: groups are stratified by their first member's label, shuffled with
    a seeded RNG, and filled into test, then validation, up to ``round(fraction * stratum size)``
    records each; the rest is train. Memory is a few arrays of n numbers.

    Args:
        groups: group (cluster) id per record (ints or strings).
        labels: label per record (``None``/-1 for unlabelled data).
        validation, test: fractions of records.
        seed: RNG seed; same inputs and seed give the same split.
        stratify: stratify by label (classification).
    """
    groups = np.asarray(groups)
    labels = np.asarray([str(x) for x in labels]) if not np.issubdtype(np.asarray(labels).dtype, np.number) \
        else np.asarray(labels)
    uniq, first, inverse, sizes = np.unique(groups, return_index=True, return_inverse=True, return_counts=True)
    strata = labels[first] if stratify else np.zeros(len(uniq), dtype=np.int64)
    rng = np.random.default_rng(seed)
    group_split = np.full(len(uniq), TRAIN, dtype=np.int8)
    for key in np.unique(strata):
        members = np.flatnonzero(strata == key)  # groups of this stratum, in sorted group order
        members = members[rng.permutation(len(members))]
        total = int(sizes[members].sum())
        target = {TEST: round(total * test), VALIDATION: round(total * validation)}
        filled = {TEST: 0, VALIDATION: 0}
        for g in members:
            n = int(sizes[g])
            for split in (TEST, VALIDATION):
                # a group fits when it stays within the target, or when the split is still empty
                # and the group is not much larger than the target (so small strata get one)
                if filled[split] + n <= target[split] or (filled[split] == 0 and 0 < target[split] and n <= 2 * target[split]):
                    group_split[g] = split
                    filled[split] += n
                    break
    return group_split[inverse.reshape(-1)]
