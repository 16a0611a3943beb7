"""The audit signing key: an HMAC-SHA256 key kept outside the store, so a database writer cannot forge rows.

Threat: someone who can write the database (drop its triggers, rewrite every row and recompute
every chain hash) but does not hold this key. Each audit row stores ``sig = HMAC(key, hash)`` and
``key_id`` (a fingerprint of the key, never the key); ``audit verify`` recomputes the HMAC, so a
consistent rewrite of the whole chain fails at its first row.

Where the key comes from, first match wins:

1. ``$TAILORLM_AUDIT_KEY``: hex keys separated by commas, for servers and CI that inject secrets;
   the last one signs, the others still verify older rows (rotation).
2. The key file ``$TAILORLM_AUDIT_KEY_FILE``, default ``$XDG_CONFIG_HOME/tailorlm/audit.key``
   (``~/.config/tailorlm/audit.key``): one hex key per line, the last line signs. It is created with
   mode 0600 on the first audit write of a store that has no signed row yet. It lives in the user's
   config folder, not in ``.tailor/``, because whoever can copy the project folder or the database
   must not get the key with it. A team sharing a PostgreSQL store shares the key through the
   environment variable (or by copying the file to each writer, mode 0600).

Next to the key file, ``audit-anchors.json`` remembers for each store the first ``seq`` it signed, so
a chain rewritten with every signature stripped does not pass as "written before signing existed".

Rotation: :func:`rotate` appends a new key to the file (``tailorlm audit rotate-key``); old lines
stay so rows they signed still verify. Remove an old line only if you accept that its rows then
read as "signed by a key not held here".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import RegistryError

ENV_KEY = "TAILORLM_AUDIT_KEY"
ENV_KEY_FILE = "TAILORLM_AUDIT_KEY_FILE"


def key_file_path() -> Path:
    """Where the key file is (or will be created): ``$TAILORLM_AUDIT_KEY_FILE`` or the user config dir."""
    explicit = os.environ.get(ENV_KEY_FILE)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "tailorlm" / "audit.key"


def key_id(key: bytes) -> str:
    """A public fingerprint of ``key`` (16 hex chars); stored in each row to say which key signed it."""
    return hashlib.sha256(b"tailorlm-audit-key-id:" + key).hexdigest()[:16]


def sign(key: bytes, row_hash: str) -> str:
    """HMAC-SHA256 of a row's chain hash (which covers the row's content and the previous hash)."""
    return hmac.new(key, row_hash.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass
class Keyring:
    """The keys this process holds; ``current`` signs new rows, ``by_id`` verifies old ones.

    Attributes:
        keys: every key held, oldest first.
        source: where they came from (the env var name or the key file path), for messages.
    """

    keys: list[bytes]
    source: str

    @property
    def current(self) -> bytes:
        return self.keys[-1]

    @property
    def by_id(self) -> dict[str, bytes]:
        return {key_id(k): k for k in self.keys}

    def check(self, kid: str | None, row_hash: str, sig: str | None) -> bool:
        """Whether ``sig`` is this keyring's HMAC of ``row_hash`` under key ``kid``."""
        key = self.by_id.get(kid or "")
        return key is not None and sig is not None and hmac.compare_digest(sign(key, row_hash), sig)


def _parse(text: str, where: str) -> list[bytes]:
    keys = []
    for n, line in enumerate(text.replace(",", "\n").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key = bytes.fromhex(line)
        except ValueError:
            raise RegistryError(f"{where}: entry {n} is not a hex key; each key is 64 hex characters "
                                "(create one with: python -c 'import secrets; print(secrets.token_hex(32))')") from None
        if len(key) < 16:
            raise RegistryError(f"{where}: entry {n} is {len(key)} bytes; an audit key needs at least 16 (32 advised)")
        keys.append(key)
    return keys


def load() -> Keyring | None:
    """The keys held here (env var, else key file), or None when neither exists."""
    env = os.environ.get(ENV_KEY)
    if env:
        keys = _parse(env, f"${ENV_KEY}")
        if keys:
            return Keyring(keys, f"${ENV_KEY}")
    path = key_file_path()
    if not path.exists():
        return None
    keys = _parse(path.read_text(encoding="utf-8"), str(path))
    return Keyring(keys, str(path)) if keys else None


def _append_key(path: Path) -> bytes:
    """Append a fresh key to the key file, creating it (and its folder) with owner-only modes."""
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (key.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    return key


def for_signing(head_key_id: str | None, rotating: bool = False) -> Keyring:
    """The keyring to sign the next row with, creating the key file on first use.

    Args:
        head_key_id: the ``key_id`` of the chain's last row (None when it is unsigned or absent).
        rotating: the row being written records a key rotation, so a head signed by a key not
            held here is expected (the recovery path after a lost key).

    Raises:
        RegistryError: the chain is already signed by a key not held here (lost, or this machine
            never had it): signing with another key would hide that, so say how to recover.
    """
    ring = load()
    if ring is None:
        if head_key_id and not rotating:
            raise lost_key_error(head_key_id)
        _append_key(key_file_path())
        ring = load()
        assert ring is not None
    if head_key_id and head_key_id not in ring.by_id and not rotating:
        raise lost_key_error(head_key_id, held=ring.source)
    return ring


def lost_key_error(kid: str, held: str | None = None) -> RegistryError:
    """The message for "rows are signed by a key this machine does not hold"."""
    where = (f"the keys held here ({held}) do not include it" if held else
             f"no audit key is held here (looked at ${ENV_KEY} and {key_file_path()})")
    return RegistryError(
        f"the audit log is signed with key {kid}, but {where}. Restore that key from your backup into "
        f"{key_file_path()} (one hex key per line, mode 0600) or set ${ENV_KEY} as on the other writers. "
        f"If the key is lost for good, run `tailorlm audit rotate-key` to sign new rows with a new key; "
        f"rows signed by the lost key then fail `tailorlm audit verify` as unverifiable, and "
        f"`tailorlm audit verify --chain-only` still checks their hash chain."
    )


def anchors_path() -> Path:
    """Where each store's first signed ``seq`` is remembered: next to the key file, outside the store."""
    return key_file_path().with_name("audit-anchors.json")


def signed_from(store_id: str) -> int | None:
    """The ``seq`` of the first row signed in this store, as remembered here (None when unknown).

    Without it, someone who rewrites the chain *and* strips every signature would leave rows that
    read as "written before signing existed"; with it, any unsigned row from that seq on is tampering.
    """
    try:
        anchors = json.loads(anchors_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = anchors.get(store_id) if isinstance(anchors, dict) else None
    return int(value) if isinstance(value, int) else None


def remember_signed_from(store_id: str, seq: int) -> None:
    """Remember (once) that ``store_id`` signs every row from ``seq`` on; best effort (a read-only
    config folder on a server only loses this extra check)."""
    path = anchors_path()
    try:
        anchors = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if not isinstance(anchors, dict) or store_id in anchors:
            return
        anchors[store_id] = int(seq)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(anchors, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except (OSError, ValueError):
        return


def rotate() -> tuple[str, str | None]:
    """Append a new signing key to the key file; returns (new key id, previous key id or None).

    Raises:
        RegistryError: the keys come from ``$TAILORLM_AUDIT_KEY`` (rotate them where that secret is kept).
    """
    if os.environ.get(ENV_KEY):
        raise RegistryError(f"the audit keys come from ${ENV_KEY}; rotate there: append a new hex key after a "
                            "comma (the last one signs; keep the old ones so their rows still verify)")
    old = load()
    new = _append_key(key_file_path())
    return key_id(new), key_id(old.current) if old else None
