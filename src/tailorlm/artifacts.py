"""Atomic writes, content hashes and provenance helpers shared by every stage.

A crash must never leave a half-written artifact that looks complete: files are written to a
temporary sibling and ``os.replace``d; folders are built in a ``.staging-*`` sibling and renamed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from . import __version__
from .errors import UserError


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w"):
    """A file that appears at ``path`` only when the block ends without error (temp file + rename).

    Args:
        mode: ``"w"`` (text, UTF-8) or ``"wb"``.
    """
    path = Path(path)
    if path.is_dir():
        raise UnsafeTarget(f"{path} is a folder; give a file path to write (nothing was written).")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


# Written into every folder tailorlm builds; only a folder holding it may be replaced without --force.
MARKER = ".tailorlm-output"
# A version's training rows for its prompt recipe's retrieved examples (tailorlm.rag.examples).
RETRIEVAL_EXAMPLES = "retrieval_examples.jsonl"
# Their user turns' sentence embeddings, when the index ranks by them too (tailorlm.rag.examples).
RETRIEVAL_VECTORS = "retrieval_vectors.npz"
_MARKER_TEXT = json.dumps({"written_by": "tailorlm", "replaceable": True,
                           "note": "tailorlm replaces this folder when asked to write here again"}) + "\n"


class UnsafeTarget(UserError):
    """Writing the folder would destroy something tailorlm did not make."""


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (leftovers of a live writer are kept)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _holds_project(folder: Path) -> Path | None:
    """A ``tailor.yaml`` or ``.tailor`` folder at or under ``folder``, if any."""
    for name in ("tailor.yaml", ".tailor"):
        hit = next(iter(folder.rglob(name)), None)
        if hit is not None:
            return hit
    return None


def check_replaceable(final: str | Path, *, force: bool = False, protect: Iterable[str | Path] = ()) -> None:
    """Refuse to replace ``final`` unless that cannot lose anything tailorlm did not write.

    An absent or empty folder is fine; an existing one must hold :data:`MARKER` (a previous tailorlm
    output) or lie inside a ``.tailor/`` folder, unless ``force``. Never, even with ``force``: a file, the current folder or a folder
    above it, the home folder, a ``protect`` path or a folder above one, or a folder holding a
    ``tailor.yaml`` or ``.tailor/``.

    Args:
        protect: paths that must survive (the project root, ``.tailor/``, the data sources).

    Raises:
        UnsafeTarget: naming the path, why, and what to do instead.
    """
    final = Path(final).expanduser().resolve()
    if not final.exists() and not final.is_symlink():
        return
    if not final.is_dir():
        raise UnsafeTarget(f"{final} is a file, not a folder; nothing was written. Give a folder path that "
                           "does not exist yet (or a previous tailorlm export).")
    guarded = [Path.cwd(), Path.home(), *(Path(p) for p in protect)]
    for p in guarded:
        p = p.expanduser().resolve()
        if p == final or final in p.parents:
            raise UnsafeTarget(f"{final} holds {p}; replacing it would delete it, so nothing was written "
                               "(--force does not override this). Write to a new folder instead.")
    if not any(final.iterdir()):
        return
    hit = _holds_project(final)
    if hit is not None:
        raise UnsafeTarget(f"{final} holds a tailorlm project ({hit}); replacing it would delete it, so nothing "
                           "was written (--force does not override this). Write to a new folder instead.")
    # Inside a project's .tailor/ every folder is tailorlm's own (including ones written before the marker).
    owned = ".tailor" in final.parent.parts
    if not force and not owned and not (final / MARKER).is_file():
        raise UnsafeTarget(f"{final} already exists and was not written by tailorlm (no {MARKER} file), so it "
                           "was left as it is. Give a new folder, empty it yourself, or pass --force to replace it.")


_LEFTOVER = re.compile(r"^\.(?:staging-(?P<staged>.+)-(?P<spid>\d+)-[a-z0-9_]+|trash-(?P<trashed>.+)-(?P<tpid>\d+))$")


def _clean_leftovers(parent: Path) -> None:
    """Remove the ``.staging-*``/``.trash-*`` folders in ``parent`` left by writers that were killed.

    Only names this module makes, and only of processes that are gone. A writer killed between
    its two renames left its target missing and the old folder in ``.trash-NAME-PID``: that folder
    is put back, so a kill never loses the previous version.
    """
    for sib in list(parent.iterdir()):
        m = _LEFTOVER.match(sib.name)
        if not m or pid_alive(int(m.group("spid") or m.group("tpid"))):
            continue
        target = parent / m.group("trashed") if m.group("trashed") else None
        if target is not None and sib.is_dir() and not target.exists():
            os.replace(sib, target)
        elif sib.is_dir():
            shutil.rmtree(sib, ignore_errors=True)
        else:
            sib.unlink(missing_ok=True)


def replace_dir(staging: Path, final: Path) -> None:
    """Move the finished ``staging`` folder to ``final``, replacing an old ``final`` (checked by the caller)."""
    if final.exists():
        trash = final.with_name(f".trash-{final.name}-{os.getpid()}")
        os.replace(final, trash)
        os.replace(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, final)


@contextlib.contextmanager
def atomic_dir(final: str | Path, *, force: bool = False, protect: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces ``final`` in one rename.

    ``final`` is checked first (:func:`check_replaceable`): only an absent or empty folder or a
    previous tailorlm output (``force``: any folder but a protected one) is replaced. The new folder
    gets :data:`MARKER`. On error the staging folder is removed and ``final`` is untouched; leftovers
    of a writer killed earlier are cleaned up first.

    Raises:
        UnsafeTarget: ``final`` may not be replaced; nothing is written.
    """
    final = Path(final).expanduser().resolve()
    check_replaceable(final, force=force, protect=protect)
    final.parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(final.parent)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".staging-{final.name}-{os.getpid()}-"))
    try:
        yield staging
        (staging / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
        check_replaceable(final, force=force, protect=protect)  # it may have appeared meanwhile
        replace_dir(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-able object in canonical form (sorted keys, no whitespace)."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode())


def sha256_tree(path: str | Path) -> str:
    """Hash of a folder's files (relative names + contents), order-independent of listing."""
    root = Path(path)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(root)).encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def code_version() -> str:
    """Package version plus the git commit when running from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__
