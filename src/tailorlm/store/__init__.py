"""The project store: SQLite by default, any SQLAlchemy URL (PostgreSQL for a team).

Schema changes are ordered migration functions (append only; never edit one that shipped).
Each is applied once, inside a transaction, and recorded in ``_migrations``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from typing import Any, Callable, Iterator

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


# (table, column) pairs m001 declared REAL. On PostgreSQL REAL is a 4-byte float: an epoch time
# (~1.7e9 s) would be rounded to ~2 minutes and audit hashes over timestamps would not verify.
_REAL_COLUMNS = [
    ("stage_cache", "updated_at"),
    ("datasets", "created_at"),
    ("runs", "created_at"),
    ("runs", "finished_at"),
    ("model_versions", "created_at"),
    ("model_versions", "deleted_at"),
    ("aliases", "updated_at"),
    ("audit_log", "ts"),
]

_AUDIT_GUARD_SQLITE = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
]

_AUDIT_GUARD_POSTGRES = [
    """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
]


def m002_registry(conn: Connection) -> None:
    """Registry hardening: exact timestamps on PostgreSQL, append-only audit log, lookup indexes.

    The append-only triggers stop accidental edits through the store; deliberate tampering by
    someone who can drop triggers is caught by the audit hash chain (``tailorlm audit verify``).
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        for table, column in _REAL_COLUMNS:
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE DOUBLE PRECISION"))
        guards = _AUDIT_GUARD_POSTGRES
    else:
        guards = _AUDIT_GUARD_SQLITE
    for stmt in guards:
        conn.execute(text(stmt))
    conn.execute(text("CREATE INDEX ix_audit_log_action ON audit_log (action)"))
    conn.execute(text("CREATE INDEX ix_audit_log_subject ON audit_log (subject)"))
    conn.execute(text("CREATE INDEX ix_model_versions_dataset ON model_versions (dataset_version)"))
    conn.execute(text("CREATE INDEX ix_record_lineage_dv ON record_lineage (dataset_version)"))


def m003_audit_signatures(conn: Connection) -> None:
    """Audit rows gain ``key_id`` and ``sig`` (HMAC of the row hash, key held outside the store).

    Rows written before this migration keep NULL there and are reported as unsigned.
    """
    conn.execute(text("ALTER TABLE audit_log ADD COLUMN key_id TEXT"))
    conn.execute(text("ALTER TABLE audit_log ADD COLUMN sig TEXT"))


def m004_record_source_id(conn: Connection) -> None:
    """``record_lineage.source_id``: the id as in the source file when several records shared it.

    ``record_id`` is unique per dataset version (``<id>#2`` for the second record with an id); an
    erasure request names the source id, so it is looked up here too.
    """
    conn.execute(text("ALTER TABLE record_lineage ADD COLUMN source_id TEXT"))
    conn.execute(text("CREATE INDEX ix_record_lineage_source_id ON record_lineage (source_id)"))


def m005_serve(conn: Connection) -> None:
    """Serving: API keys (argon2 hashes only, never the key) and the request log."""
    float_t = "DOUBLE PRECISION" if conn.dialect.name == "postgresql" else "REAL"
    conn.execute(text(f"""
        CREATE TABLE api_keys (
            name TEXT PRIMARY KEY,
            key_id TEXT NOT NULL UNIQUE,
            key_hash TEXT NOT NULL,
            role TEXT NOT NULL,
            rpm INTEGER,
            tpm INTEGER,
            created_by TEXT NOT NULL,
            created_at {float_t} NOT NULL,
            revoked_at {float_t}
        )"""))
    conn.execute(text(f"""
        CREATE TABLE request_log (
            id TEXT PRIMARY KEY,
            ts {float_t} NOT NULL,
            key_name TEXT,
            endpoint TEXT NOT NULL,
            model TEXT,
            version TEXT,
            status INTEGER NOT NULL,
            latency_ms {float_t},
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            finish_reason TEXT,
            request TEXT,
            response TEXT,
            error TEXT,
            redacted INTEGER NOT NULL
        )"""))
    conn.execute(text("CREATE INDEX ix_request_log_ts ON request_log (ts)"))
    conn.execute(text("CREATE INDEX ix_request_log_version ON request_log (version)"))


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", m001_initial),
    ("m002_registry", m002_registry),
    ("m003_audit_signatures", m003_audit_signatures),
    ("m004_record_source_id", m004_record_source_id),
    ("m005_serve", m005_serve),
]

# Execution option asking for a transaction that holds the database's write lock from its start.
WRITE_LOCK = "tailorlm_write_lock"


SQLITE_BUSY_TIMEOUT_S = 30.0


def _sqlite_connect(dbapi_conn, _record) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_begin) so a writer can ask for BEGIN IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    _enable_wal(cur)
    cur.close()


def _enable_wal(cur: Any) -> None:
    """Switch the database to WAL, retrying while another process holds it.

    Changing the journal mode answers SQLITE_BUSY at once, without calling the busy handler, when a
    second process is opening (and migrating) the same new database; so the retry is ours.
    """
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn: Connection) -> None:
    """Start every SQLite transaction explicitly; ``IMMEDIATE`` takes the write lock up front.

    A deferred transaction that reads and then writes fails at once with "database is locked" when
    another writer committed in between (the busy timeout does not apply to that upgrade), so
    read-then-write sections (next version number, audit chain head) use ``IMMEDIATE``.
    """
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_LOCK) else "BEGIN")


def _lock_key(name: str) -> int:
    """A signed 64-bit key for PostgreSQL advisory locks, stable across processes."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def normalize_url(url: str) -> str:
    """Pick the psycopg (3) driver for plain ``postgresql://`` / ``postgres://`` URLs.

    SQLAlchemy's default PostgreSQL driver is psycopg2; tailorlm documents and tests psycopg 3.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Store:
    """Thin access layer over the SQLAlchemy engine; stages keep their own SQL next to them."""

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import NoSuchModuleError, OperationalError

        from ..errors import UserError

        self.url = url = normalize_url(url)
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True  # a server may drop idle connections (long-running API)
        safe = make_url(url).render_as_string(hide_password=True)
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (ImportError, NoSuchModuleError) as exc:
            raise UserError(f"store {safe}: its database driver is not installed ({exc}). For PostgreSQL: "
                            "pip install 'psycopg[binary]'.") from None
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        try:
            self.migrate()
        except OperationalError as exc:
            raise UserError(f"cannot open the store {safe}: {str(exc.orig).strip()}. Check workspace.store_url "
                            "in tailor.yaml (and that the server is running and reachable).") from None

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql`` (or another SQLAlchemy dialect name)."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[Connection]:
        """A transaction that holds an exclusive lock named ``name`` until it commits.

        Use it for read-then-write sections that must not interleave across processes (the next
        model version number, the audit chain head). SQLite locks the whole database
        (``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-scoped advisory lock on ``name``.
        """
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_LOCK: True})
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(name)})
                yield conn

    def migrate(self) -> list[str]:
        """Apply pending migrations in order; returns the names applied."""
        applied: list[str] = []
        with self.locked("_migrations") as conn:
            conn.execute(text(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
            ))
        for name, fn in MIGRATIONS:
            # The lock serializes concurrent processes: the second one sees the row and skips.
            with self.locked("_migrations") as conn:
                if conn.execute(text("SELECT 1 FROM _migrations WHERE name=:n"), {"n": name}).first():
                    continue
                fn(conn)
                conn.execute(
                    text("INSERT INTO _migrations (name, applied_at) VALUES (:n, :t)"),
                    {"n": name, "t": time.time()},
                )
            applied.append(name)
        return applied

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
