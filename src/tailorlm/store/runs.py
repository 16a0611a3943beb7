"""The ``runs`` table: one row per training run (status, folder, the run's inputs and results as JSON).

The train stage records its runs here and ``--resume`` finds them here; the CLI, the server and the
dashboard read the same functions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text


def record_run(store: Any, run_id: str, status: str, path: Path, info: dict[str, Any], dataset: str,
               finished: bool = False, kind: str = "train") -> None:
    """Insert the run, or update its status, info and finish time (``finished``: now)."""
    with store.engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM runs WHERE id=:i"), {"i": run_id}).first()
        params = {"i": run_id, "s": status, "p": str(path), "info": json.dumps(info, default=str), "d": dataset,
                  "t": time.time(), "f": time.time() if finished else None, "k": kind}
        if exists:
            conn.execute(text("UPDATE runs SET status=:s, info=:info, finished_at=:f WHERE id=:i"), params)
        else:
            conn.execute(text("INSERT INTO runs (id, kind, dataset_version, status, path, info, created_at, finished_at) "
                              "VALUES (:i, :k, :d, :s, :p, :info, :t, :f)"), params)


def unfinished_runs(store: Any, kind: str = "train") -> list[tuple[str, Path, dict[str, Any]]]:
    """(id, folder, info) of every run of ``kind`` not finished, newest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, path, info FROM runs WHERE kind=:k AND status != 'finished' "
                                 "ORDER BY created_at DESC"), {"k": kind}).all()
    return [(rid, Path(path), json.loads(info)) for rid, path, info in rows]


def run_info(store: Any, run_id: str) -> dict[str, Any] | None:
    """The ``info`` JSON of one run (``None``: no such run)."""
    with store.engine.connect() as conn:
        info = conn.execute(text("SELECT info FROM runs WHERE id=:i"), {"i": run_id}).scalar()
    return None if info is None else json.loads(info)
