"""The audit log: append-only, hash-chained records of every action that changes what can ship.

Each row stores ``hash = sha256([seq, ts, actor, action, subject, details, prev_hash])`` where
``prev_hash`` is the previous row's hash (64 zeros for the first row), so editing, removing or
reordering any row breaks the chain at that row and :func:`verify` names it. Each row also stores
``sig = HMAC-SHA256(key, hash)`` and the signing ``key_id`` (migration ``m003_audit_signatures``);
the key lives outside the store (:mod:`.audit_key`), so someone who rewrites the whole chain and
recomputes every hash is still caught at the first rewritten row. Rows written before signing
existed have no ``sig`` and are reported as unsigned, not as tampered; an unsigned row after a
signed one is tampering (a stripped signature). Rows are appended
under the store's write lock, so concurrent writers (pipeline, CLI, any server process) never fork the
chain. Database triggers (migration ``m002_registry``) also refuse ``UPDATE``/``DELETE``.

Actions used by the stages: ``data.prepare``, ``train.start``, ``train.end``, ``train.failed``, ``eval``,
``register``, ``promote``, ``alias.set``, ``delete``, ``export``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..artifacts import atomic_write_text
from . import audit_key
from .errors import RegistryError

GENESIS = "0" * 64
ACTIONS = (
    "data.prepare",
    "train.start",
    "train.end",
    "train.failed",
    "eval",
    "register",
    "promote",
    "alias.set",
    "delete",
    "export",
    "audit.key_rotate",
)
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_COLUMNS = "seq, ts, actor, action, subject, details, prev_hash, hash, key_id, sig"


def current_actor() -> str:
    """Who is acting: ``$TAILORLM_ACTOR`` when set (a process acting for a caller, e.g. a server,
    sets it to the caller's identity), else the OS user."""
    env = os.environ.get("TAILORLM_ACTOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def row_hash(seq: int, ts: float, actor: str, action: str, subject: str, details: str, prev_hash: str) -> str:
    """The chain hash of one row. ``details`` is the stored JSON text, hashed byte for byte."""
    payload = json.dumps([seq, ts, actor, action, subject, details, prev_hash], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _check_action(action: str) -> None:
    if not _ACTION.match(action or ""):
        raise RegistryError(
            f"audit action {action!r} is not valid; use lowercase dotted words such as "
            f"{', '.join(ACTIONS[:4])}"
        )


def append(conn: Connection, action: str, subject: str, details: dict | None = None, actor: str | None = None,
           *, rotating: bool = False) -> dict:
    """Append one signed row inside the caller's write-locked transaction (see ``Store.locked``).

    Lets a stage write its own rows and the audit row in one transaction (all or nothing).
    On PostgreSQL this also takes the ``audit_log`` advisory lock (always the last lock taken).

    Raises:
        RegistryError: the chain is signed by a key not held here (see :func:`.audit_key.for_signing`).
    """
    _check_action(action)
    if conn.dialect.name == "postgresql":
        from ..store import _lock_key

        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("audit_log")})
    head = conn.execute(text("SELECT seq, hash, key_id FROM audit_log ORDER BY seq DESC LIMIT 1")).first()
    seq, prev = (int(head[0]) + 1, head[1]) if head else (1, GENESIS)
    ring = audit_key.for_signing(head[2] if head else None, rotating=rotating)
    row = {
        "seq": seq,
        # Rounded to microseconds; stored as an 8-byte float, so the hash input survives the round trip.
        "ts": round(time.time(), 6),
        "actor": actor or current_actor(),
        "action": action,
        "subject": str(subject),
        "details": json.dumps(details or {}, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False),
        "prev_hash": prev,
    }
    row["hash"] = row_hash(**row)
    row["key_id"], row["sig"] = audit_key.key_id(ring.current), audit_key.sign(ring.current, row["hash"])
    conn.execute(
        text(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (:seq, :ts, :actor, :action, :subject, :details, :prev_hash, "
             ":hash, :key_id, :sig)"),
        row,
    )
    if not (head and head[2]):  # the first signed row of this store
        audit_key.remember_signed_from(store_id(conn), seq)
    return _public(row)


def store_id(conn: Connection) -> str:
    """The store's URL without its password: the key under which its first signed seq is remembered."""
    return conn.engine.url.render_as_string(hide_password=True)


def record(ws, action: str, subject: str, details: dict | None = None, actor: str | None = None) -> dict:
    """Append an audit row and return it (``details`` parsed back into a dict).

    Args:
        ws: the :class:`~tailorlm.workspace.Workspace`.
        action: e.g. ``train.start``; lowercase dotted words.
        subject: what it is about, e.g. ``support-bot@3``, a dataset version or a run id.
        details: JSON-able facts (Paths and other objects are stored as strings).
        actor: who did it; defaults to :func:`current_actor`.
    """
    with ws.store.locked("audit_log") as conn:
        return append(conn, action, subject, details, actor)


def rotate_key(ws) -> dict:
    """Start signing with a new key (:func:`.audit_key.rotate`) and record it as an ``audit.key_rotate`` row.

    The row is signed by the new key and names the previous one, so the hand-over is in the chain.
    """
    new_id, old_id = audit_key.rotate()
    with ws.store.locked("audit_log") as conn:
        return append(conn, "audit.key_rotate", "audit", {"new_key_id": new_id, "previous_key_id": old_id},
                      rotating=True)


def _public(row: dict) -> dict:
    out = dict(row)
    out["details"] = json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]
    out["time"] = dt.datetime.fromtimestamp(float(row["ts"]), dt.timezone.utc).isoformat(timespec="seconds")
    return out


def _filters(action: str | None, subject: str | None, actor: str | None, since: float | None, until: float | None):
    where, params = [], {}
    if action:
        # "train" matches train.start and train.end.
        where.append("(action = :action OR action LIKE :action_prefix)")
        params.update(action=action, action_prefix=f"{action}.%")
    if subject:
        # "support-bot" matches support-bot@1, support-bot@2...
        where.append("(subject = :subject OR subject LIKE :subject_prefix)")
        params.update(subject=subject, subject_prefix=f"{subject}@%")
    if actor:
        where.append("actor = :actor")
        params["actor"] = actor
    if since is not None:
        where.append("ts >= :since")
        params["since"] = since
    if until is not None:
        where.append("ts < :until")
        params["until"] = until
    return (" WHERE " + " AND ".join(where)) if where else "", params


def rows(
    ws,
    *,
    action: str | None = None,
    subject: str | None = None,
    actor: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[dict]:
    """Audit rows matching the filters (``action``/``subject`` also match as prefixes)."""
    where, params = _filters(action, subject, actor, since, until)
    sql = f"SELECT {_COLUMNS} FROM audit_log{where} ORDER BY seq {'DESC' if newest_first else 'ASC'}"
    if limit:
        sql += " LIMIT :limit"
        params["limit"] = int(limit)
    with ws.store.engine.connect() as conn:
        return [_public(dict(r._mapping)) for r in conn.execute(text(sql), params)]


def _iter_all(ws, batch: int = 1000) -> Iterator[dict]:
    """Every row in ``seq`` order, fetched in batches (the log can be long)."""
    last = 0
    with ws.store.engine.connect() as conn:
        while True:
            chunk = conn.execute(
                text(f"SELECT {_COLUMNS} FROM audit_log WHERE seq > :last ORDER BY seq LIMIT :n"),
                {"last": last, "n": batch},
            ).all()
            if not chunk:
                return
            for r in chunk:
                yield dict(r._mapping)
            last = int(chunk[-1][0])


@dataclass
class Verification:
    """Outcome of :func:`verify`.

    Attributes:
        ok: the whole chain is intact, every row from the first signed one on carries a valid
            signature (unless ``chain_only``), and it matches ``expected_head`` when one was given.
        checked: rows checked before stopping.
        head: hash of the last good row (anchor it elsewhere to detect truncation later).
        bad_seq: the first bad row's ``seq`` (None when ok).
        reason: what is wrong with it and what it means.
        signed: rows whose signature was checked and matched.
        unsigned: rows written before signing began (no signature; the hash chain still covers them).
    """

    ok: bool
    checked: int
    head: str
    bad_seq: int | None = None
    reason: str = ""
    signed: int = 0
    unsigned: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_row(row: dict, expected_seq: int, prev_hash: str) -> str:
    """Why ``row`` breaks the chain, or '' when it is good."""
    seq = int(row["seq"])
    if seq != expected_seq:
        return f"records {expected_seq}..{seq - 1} are missing (the chain jumps from {expected_seq - 1} to {seq})"
    if row["prev_hash"] != prev_hash:
        return (
            f"its prev_hash does not match the hash of record {seq - 1}: record {seq - 1} was altered "
            "(and its hash recomputed) or records were removed or reordered"
        )
    fields = {k: row[k] for k in ("seq", "ts", "actor", "action", "subject", "details", "prev_hash")}
    fields["seq"], fields["ts"] = int(fields["seq"]), float(fields["ts"])
    if row_hash(**fields) != row["hash"]:
        return "its content does not match its hash: the record was edited after it was written"
    return ""


def _check_signature(row: dict, ring: audit_key.Keyring | None, seen_signed: bool, signed_from: int | None) -> str:
    """Why ``row``'s signature is not acceptable, or '' when it is good (or legitimately absent)."""
    if not row.get("sig"):
        if seen_signed or (signed_from is not None and int(row["seq"]) >= signed_from):
            why = "earlier records are signed" if seen_signed else f"this store signs every record from {signed_from} on"
            return (f"it has no signature although {why}: its signature was stripped "
                    "(the record was rewritten by someone without the audit key)")
        return ""
    if ring is None:
        raise audit_key.lost_key_error(row["key_id"])
    if row["key_id"] not in ring.by_id:
        return (f"it is signed with key {row['key_id']}, which is not held here ({ring.source}): either it was "
                "forged, or that key was rotated out or lost (put the old key back as a line of the key file "
                "to verify its rows)")
    if not ring.check(row["key_id"], row["hash"], row["sig"]):
        return ("its signature does not match: the record (and its hash) were rewritten by someone without "
                "the audit key")
    return ""


def verify(ws, expected_head: str | None = None, chain_only: bool = False) -> Verification:
    """Walk the chain from the first row and stop at the first bad one.

    Args:
        expected_head: a head hash saved earlier (``audit verify`` prints it); when given, the
            chain must still contain it, so rows cut from the end are detected too.
        chain_only: check the hash chain only, not the signatures (when the key is lost; this
            does not detect someone who rewrote the chain and recomputed every hash).

    Raises:
        RegistryError: signed rows exist but no audit key is held here (the message says how to recover).
    """
    ring = None if chain_only else audit_key.load()
    first_signed = audit_key.signed_from(ws.store.engine.url.render_as_string(hide_password=True))
    prev, expected_seq, checked, anchored = GENESIS, 1, 0, expected_head is None
    signed = unsigned = 0
    for row in _iter_all(ws):
        reason = _check_row(row, expected_seq, prev) or (
            "" if chain_only else _check_signature(row, ring, signed > 0, first_signed))
        if reason:
            bad = expected_seq if "missing" in reason else int(row["seq"])
            return Verification(False, checked, prev, bad, f"record {bad} ({row['action']} {row['subject']}): {reason}",
                                signed, unsigned)
        if not chain_only:
            signed, unsigned = (signed + 1, unsigned) if row.get("sig") else (signed, unsigned + 1)
        prev, expected_seq, checked = row["hash"], expected_seq + 1, checked + 1
        anchored = anchored or prev == expected_head
    if not anchored:
        return Verification(
            False, checked, prev, expected_seq,
            f"the chain ends at record {expected_seq - 1} and no record has the expected head hash "
            f"{expected_head[:16]}...: records were removed from the end (the next missing one is {expected_seq})",
            signed, unsigned,
        )
    return Verification(True, checked, prev, signed=signed, unsigned=unsigned)


def export(ws, out: str | Path | IO[str], **filters: Any) -> int:
    """Write the matching rows as JSON lines (one row per line, with its hashes); returns the count.

    ``out`` is a path (written atomically) or an open text stream.
    """
    lines = [json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows(ws, **filters)]
    if isinstance(out, (str, Path)):
        atomic_write_text(out, "".join(lines))
    else:
        out.writelines(lines)
    return len(lines)
