"""API keys: created once and shown once, stored as argon2 hashes, checked on every request.

A key reads ``tlm-<key id>-<secret>``. The key id is public (it finds the row); the whole key is
hashed with argon2id (salted and deliberately slow, from ``argon2-cffi``), so a copy of the store
does not give anyone a working key. A successful check is remembered in memory (as a SHA-256 of the
key, per key id) so only the first request of each key pays for argon2; the row is still read on
every request, so a revocation takes effect at once, from any process.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass

from ..errors import UserError
from ..registry import audit
from . import tables

ROLES = ("user", "admin")
PREFIX = "tlm"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class KeysError(UserError):
    """A key request that cannot be done (bad name, duplicate, unknown key)."""


@dataclass(frozen=True)
class Identity:
    """Who is calling: the key's name (never the key), its role and limits."""

    name: str
    role: str
    rpm: int | None = None
    tpm: int | None = None


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def create_key(ws, name: str, role: str = "user", rpm: int | None = None, tpm: int | None = None,
               actor: str | None = None) -> tuple[str, tables.KeyRow]:
    """Create a key; returns ``(key, row)``. The key is not stored anywhere: show it once.

    Raises:
        KeysError: the name is not valid or already used, the role or a limit is not valid.
    """
    if not _NAME.match(name or ""):
        raise KeysError(f"key name {name!r} is not valid: use 1-64 letters, digits, '_', '.', '-', starting with a "
                        "letter or digit")
    if role not in ROLES:
        raise KeysError(f"role {role!r} is not valid; use one of: {', '.join(ROLES)}")
    for label, value in (("--rpm", rpm), ("--tpm", tpm)):
        if value is not None and value < 1:
            raise KeysError(f"{label} {value}: a limit must be at least 1 (leave it out for no limit)")
    if tables.get_key(ws, name=name) is not None:
        raise KeysError(f"a key named {name!r} already exists (names are never reused, even after revocation); "
                        "choose another name, see 'tailorlm keys list'")
    key_id = secrets.token_hex(4)
    key = f"{PREFIX}-{key_id}-{secrets.token_urlsafe(32)}"
    actor = actor or audit.current_actor()
    row = tables.KeyRow(name=name, key_id=key_id, key_hash=_hasher().hash(key), role=role, rpm=rpm, tpm=tpm,
                        created_by=actor, created_at=time.time(), revoked_at=None)
    with ws.store.locked("audit_log") as conn:
        tables.insert_key(conn, row)
        audit.append(conn, "keys.create", f"key:{name}", {"key_id": key_id, "role": role, "rpm": rpm, "tpm": tpm},
                     actor)
    return key, row


def revoke_key(ws, name: str, actor: str | None = None) -> tables.KeyRow:
    """Revoke a key by name (audited); requests with it get 401 from the next request on.

    Raises:
        KeysError: no live key has that name.
    """
    actor = actor or audit.current_actor()
    with ws.store.locked("audit_log") as conn:
        if not tables.mark_revoked(conn, name, time.time()):
            known = [k.name for k in tables.list_keys(ws, include_revoked=False)]
            raise KeysError(f"no live key named {name!r} (live keys: {', '.join(known) or 'none'}); "
                            "see 'tailorlm keys list'")
        audit.append(conn, "keys.revoke", f"key:{name}", {}, actor)
    row = tables.get_key(ws, name=name)
    assert row is not None
    return row


def _key_id(presented: str) -> str | None:
    parts = presented.split("-", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        return None
    return parts[1]


class KeyVerifier:
    """Checks presented keys against the store, paying for argon2 once per key and process."""

    def __init__(self, ws):
        self.ws = ws
        self._ok: dict[str, tuple[str, str]] = {}  # key id -> (stored hash, sha256 of the key that matched it)
        self._lock = threading.Lock()

    def verify(self, presented: str) -> Identity | None:
        """The caller's identity, or None for an unknown, malformed or revoked key."""
        from argon2.exceptions import InvalidHashError, VerificationError

        key_id = _key_id(presented or "")
        if key_id is None:
            return None
        row = tables.get_key(self.ws, key_id=key_id)  # read every time: revocation is immediate
        if row is None or row.revoked_at is not None:
            return None
        fast = hashlib.sha256(presented.encode()).hexdigest()
        with self._lock:
            known = self._ok.get(key_id)
        if known != (row.key_hash, fast):
            try:
                _hasher().verify(row.key_hash, presented)
            except (VerificationError, InvalidHashError):
                return None
            with self._lock:
                self._ok[key_id] = (row.key_hash, fast)
        return Identity(name=row.name, role=row.role, rpm=row.rpm, tpm=row.tpm)
