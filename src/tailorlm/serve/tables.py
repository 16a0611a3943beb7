"""The serving tables (migration ``m005_serve``): one read and one write API per table.

``api_keys`` holds each key's name, public id, argon2 hash, role and limits (never the key itself);
``request_log`` holds one row per API request. The CLI, the server and later the dashboard and the
monitoring stage all go through these functions.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import text

_KEY_COLUMNS = "name, key_id, key_hash, role, rpm, tpm, created_by, created_at, revoked_at"
_LOG_COLUMNS = ("id, ts, key_name, endpoint, model, version, status, latency_ms, prompt_tokens, "
                "completion_tokens, finish_reason, request, response, error, redacted")


@dataclass(frozen=True)
class KeyRow:
    """One ``api_keys`` row. ``key_hash`` is the argon2 hash; the key itself is never stored."""

    name: str
    key_id: str
    key_hash: str
    role: str
    rpm: int | None
    tpm: int | None
    created_by: str
    created_at: float
    revoked_at: float | None

    def public(self) -> dict[str, Any]:
        """The row without its hash (what ``keys list`` and the admin API show)."""
        return {"name": self.name, "key_id": self.key_id, "role": self.role, "rpm": self.rpm, "tpm": self.tpm,
                "created_by": self.created_by, "created_at": self.created_at, "revoked_at": self.revoked_at}


def _key(row: Any) -> KeyRow:
    return KeyRow(**dict(row._mapping))


# --- api_keys -------------------------------------------------------------------------------------

def insert_key(conn, row: KeyRow) -> None:
    """Insert a key row inside the caller's transaction."""
    conn.execute(text(f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (:name, :key_id, :key_hash, :role, :rpm, "
                      ":tpm, :created_by, :created_at, :revoked_at)"), row.__dict__)


def get_key(ws, *, name: str | None = None, key_id: str | None = None) -> KeyRow | None:
    """The key row with this name or public id (revoked ones included), or None."""
    col, val = ("name", name) if name is not None else ("key_id", key_id)
    with ws.store.engine.connect() as conn:
        row = conn.execute(text(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE {col} = :v"), {"v": val}).first()
    return None if row is None else _key(row)


def list_keys(ws, include_revoked: bool = True) -> list[KeyRow]:
    """Every key row, oldest first."""
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    with ws.store.engine.connect() as conn:
        return [_key(r) for r in conn.execute(text(f"SELECT {_KEY_COLUMNS} FROM api_keys{where} ORDER BY created_at"))]


def mark_revoked(conn, name: str, when: float) -> bool:
    """Set ``revoked_at`` inside the caller's transaction; False when no live key has that name."""
    res = conn.execute(text("UPDATE api_keys SET revoked_at = :t WHERE name = :n AND revoked_at IS NULL"),
                       {"t": when, "n": name})
    return bool(res.rowcount)


# --- request_log ----------------------------------------------------------------------------------

def insert_requests(ws, rows: Sequence[dict[str, Any]]) -> None:
    """Append request-log rows (dicts with the table's columns; ``request``/``response`` JSON-able)."""
    if not rows:
        return
    params = [{**r, "request": json.dumps(r.get("request"), ensure_ascii=False),
               "response": json.dumps(r.get("response"), ensure_ascii=False),
               "redacted": int(bool(r.get("redacted")))} for r in rows]
    names = [c.strip() for c in _LOG_COLUMNS.split(",")]
    for p in params:
        for n in names:
            p.setdefault(n, None)
    with ws.store.engine.begin() as conn:
        conn.execute(text(f"INSERT INTO request_log ({_LOG_COLUMNS}) VALUES ("
                          + ", ".join(f":{n}" for n in names) + ")"), params)


def read_requests(ws, *, limit: int = 100, version: str | None = None, since: float | None = None) -> list[dict]:
    """Request-log rows, newest first, with ``request``/``response`` parsed back from JSON."""
    where, params = [], {"lim": int(limit)}
    if version:
        where.append("version = :v")
        params["v"] = version
    if since is not None:
        where.append("ts >= :s")
        params["s"] = since
    sql = (f"SELECT {_LOG_COLUMNS} FROM request_log" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY ts DESC LIMIT :lim")
    with ws.store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(sql), params)]
    for r in rows:
        r["request"] = json.loads(r["request"]) if r["request"] else None
        r["response"] = json.loads(r["response"]) if r["response"] else None
        r["redacted"] = bool(r["redacted"])
    return rows


def purge_requests(ws, retention_days: int, now: float | None = None) -> int:
    """Delete rows older than ``retention_days``; returns how many were deleted."""
    cutoff = (now if now is not None else time.time()) - retention_days * 86400.0
    with ws.store.engine.begin() as conn:
        return int(conn.execute(text("DELETE FROM request_log WHERE ts < :c"), {"c": cutoff}).rowcount or 0)
