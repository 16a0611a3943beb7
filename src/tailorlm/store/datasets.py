"""The ``datasets`` and ``record_lineage`` tables: every prepared dataset version, and which source
record went into which version and split (for erasure requests and lineage look-ups).

The data stage writes them; the data CLI and the registry's lineage read them through these functions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from sqlalchemy import text

LINEAGE_BATCH = 5000  # rows per INSERT: bounded memory for a dataset of millions of records


def replace_dataset(store: Any, name: str, version: str, path: Path, manifest: dict[str, Any],
                    lineage: Iterable[dict[str, Any]]) -> None:
    """One ``datasets`` row for the version and one ``record_lineage`` row per kept record, in one
    transaction (a version prepared again replaces its rows)."""
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM datasets WHERE name=:n AND version=:v"), {"n": name, "v": version})
        conn.execute(text("DELETE FROM record_lineage WHERE dataset_version=:v"), {"v": version})
        conn.execute(text("INSERT INTO datasets (name, version, path, manifest, created_at) VALUES (:n,:v,:p,:m,:t)"),
                     {"n": name, "v": version, "p": str(path), "m": json.dumps(manifest, default=str), "t": time.time()})
        batch: list[dict[str, Any]] = []
        for row in lineage:
            batch.append(row)
            if len(batch) >= LINEAGE_BATCH:
                _insert_lineage(conn, version, batch)
                batch = []
        _insert_lineage(conn, version, batch)


def _insert_lineage(conn, version: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(text("INSERT INTO record_lineage (dataset_version, record_id, source_id, source, line, split) "
                          "VALUES (:v, :id, :source_id, :source, :line, :split)"),
                     [{"v": version, "source_id": r.get("id"), **r} for r in rows])


def latest_dataset_path(store: Any, name: str) -> Path | None:
    """Folder of the most recently prepared version of ``name`` (``None``: never prepared)."""
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT path FROM datasets WHERE name=:n ORDER BY created_at DESC LIMIT 1"),
                           {"n": name}).first()
    return Path(row[0]) if row else None


def dataset_manifests(conn) -> Iterator[tuple[str, str, str]]:
    """(name, version, manifest JSON text) of every dataset version, on an open connection."""
    yield from conn.execute(text("SELECT name, version, manifest FROM datasets"))


def lineage_counts(conn, where: str, key: str) -> list[tuple[str, str, int]]:
    """(dataset version, split, records) of the ``record_lineage`` rows matching ``where`` (a fixed SQL
    condition on ``:k``) for ``key``, on an open connection."""
    return conn.execute(text(f"SELECT dataset_version, split, COUNT(*) FROM record_lineage WHERE {where} "
                             "GROUP BY dataset_version, split"), {"k": key}).all()
