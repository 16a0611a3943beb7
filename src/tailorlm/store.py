"""The project store: SQLite by default, any SQLAlchemy URL (PostgreSQL for a team).

Schema changes are ordered migration functions (append only; never edit one that shipped).
Each is applied once, inside a transaction, and recorded in ``_migrations``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine

Migration = Callable[[Connection], None]


def m001_initial(conn: Connection) -> None:
    conn.execute(text("""
        CREATE TABLE stage_cache (
            stage TEXT PRIMARY KEY,
            input_key TEXT NOT NULL,
            outputs TEXT NOT NULL,
            updated_at REAL NOT NULL
        )"""))
    conn.execute(text("""
        CREATE TABLE datasets (
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            path TEXT NOT NULL,
            manifest TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (name, version)
        )"""))
    conn.execute(text("""
        CREATE TABLE record_lineage (
            dataset_version TEXT NOT NULL,
            record_id TEXT NOT NULL,
            source TEXT NOT NULL,
            line INTEGER,
            split TEXT
        )"""))
    conn.execute(text("CREATE INDEX ix_record_lineage_rec ON record_lineage (record_id)"))
    conn.execute(text("CREATE INDEX ix_record_lineage_src ON record_lineage (source)"))
    conn.execute(text("""
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            dataset_version TEXT,
            status TEXT NOT NULL,
            path TEXT NOT NULL,
            info TEXT NOT NULL,
            created_at REAL NOT NULL,
            finished_at REAL
        )"""))
    conn.execute(text("""
        CREATE TABLE model_versions (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            run_id TEXT,
            dataset_version TEXT,
            path TEXT NOT NULL,
            lineage TEXT NOT NULL,
            evaluation TEXT,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            deleted_at REAL,
            PRIMARY KEY (name, version)
        )"""))
    conn.execute(text("""
        CREATE TABLE aliases (
            name TEXT NOT NULL,
            alias TEXT NOT NULL,
            version INTEGER NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (name, alias)
        )"""))
    conn.execute(text("""
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            details TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )"""))


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", m001_initial),
]


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Store:
    """Thin access layer over the SQLAlchemy engine; stages keep their own SQL next to them."""

    def __init__(self, url: str):
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; returns the names applied."""
        applied: list[str] = []
        with self.engine.begin() as conn:
            conn.execute(text(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
            ))
        for name, fn in MIGRATIONS:
            with self.engine.begin() as conn:
                if conn.execute(text("SELECT 1 FROM _migrations WHERE name=:n"), {"n": name}).first():
                    continue
                try:
                    fn(conn)
                    conn.execute(
                        text("INSERT INTO _migrations (name, applied_at) VALUES (:n, :t)"),
                        {"n": name, "t": time.time()},
                    )
                except Exception:
                    # Another process may have applied it concurrently.
                    if not self._is_applied(name):
                        raise
                    continue
            applied.append(name)
        return applied

    def _is_applied(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(text("SELECT 1 FROM _migrations WHERE name=:n"), {"n": name}).first())

    # --- stage cache: "were this stage's inputs seen before, and where are its outputs?" ---

    def cached_stage(self, stage: str, input_key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT input_key, outputs FROM stage_cache WHERE stage=:s"), {"s": stage}
            ).first()
        if row is None or row[0] != input_key:
            return None
        return json.loads(row[1])

    def save_stage(self, stage: str, input_key: str, outputs: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM stage_cache WHERE stage=:s"), {"s": stage})
            conn.execute(
                text("INSERT INTO stage_cache (stage, input_key, outputs, updated_at) VALUES (:s,:k,:o,:t)"),
                {"s": stage, "k": input_key, "o": json.dumps(outputs, default=str), "t": time.time()},
            )
