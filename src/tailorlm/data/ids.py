"""Unique record ids: a source id shared by several records gets a suffix; the source id is kept.

An id field is often a customer or ticket id shared by many messages, so those rows are real
records, not duplicates: they are kept. Lineage, quarantine logs and erasure requests need one
id per record, so the second and later records with an id become ``<id>#2``, ``<id>#3``, ... (in
source order, so the same sources always give the same ids). The original id stays in
``source_id`` (``lineage.jsonl``, the store's ``record_lineage``), so an erasure request for the
customer id still finds every one of its records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SharedIds:
    """What :func:`make_unique` changed (counted in the manifest and card)."""

    records: int = 0  # records whose id was shared with an earlier record (renamed)
    ids: int = 0  # distinct source ids used by more than one record
    examples: list[str] = field(default_factory=list)

    def warning(self, where: str) -> str:
        return (f"{where}: {self.records + self.ids} record(s) share {self.ids} id(s) (e.g. "
                f"{', '.join(self.examples)}); all are kept, the later ones renamed '<id>#2', '<id>#3', ... The "
                "original id is kept as source_id for lineage and erasure requests.")


def make_unique(ids: list[str]) -> tuple[list[str], SharedIds]:
    """Suffix repeated ids so every id is unique; returns (new ids, what changed)."""
    taken = set(ids)
    seen: Counter[str] = Counter()
    out: list[str] = []
    shared = SharedIds()
    for rid in ids:
        seen[rid] += 1
        if seen[rid] == 1:
            out.append(rid)
            continue
        if seen[rid] == 2:
            shared.ids += 1
            if len(shared.examples) < 3:
                shared.examples.append(rid)
        k = seen[rid]
        while f"{rid}#{k}" in taken:  # an id that already looks suffixed
            k += 1
        seen[rid] = k
        new = f"{rid}#{k}"
        taken.add(new)
        out.append(new)
        shared.records += 1
    return out, shared


def unique_ids(ds):
    """``ds`` with unique ``id`` values and the original in ``source_id``; plus what changed."""
    ids = ds["id"]
    new, shared = make_unique(ids)
    if shared.records:
        ds = ds.remove_columns("id").add_column("id", new)
    return ds.add_column("source_id", ids), shared
