"""One writer per project: the lock that ``run``, ``data prepare``, ``train`` and ``eval`` hold.

The lock is an OS file lock (``filelock``: ``flock`` on Unix) on ``.tailor/lock``, so a process
that dies, even by ``kill -9``, releases it at once and the next writer takes it over. Next to it
``.tailor/lock.json`` names the holder (pid, command, start time) so a refused writer can say who
holds the project. Read-only commands, the server and the registry's own short transactions do not
take it.

The lock is re-entrant within a process: ``run`` takes it once and its stages reuse it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import threading
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from .errors import UserError

LOCK_NAME = "lock"
HOLDER_NAME = "lock.json"

_held: dict[Path, int] = {}  # lock path -> depth, for re-entry by the same process
_guard = threading.Lock()


class ProjectLocked(UserError):
    """Another tailorlm process is writing to this project (exit status 3)."""

    exit_code = 3


def _command() -> str:
    args = [a for a in sys.argv[1:]]
    return " ".join(["tailorlm", *args]) if args else "tailorlm (python API)"


def holder(tailor_dir: str | Path) -> dict | None:
    """The holder recorded in ``.tailor/lock.json`` (``pid``, ``command``, ``started_at``), if any."""
    try:
        return json.loads((Path(tailor_dir) / HOLDER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _refusal(path: Path, who: dict | None) -> ProjectLocked:
    if who:
        since = dt.datetime.fromtimestamp(who.get("started_at", 0), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        name = f"process {who.get('pid')} ('{who.get('command')}', started {since})"
    else:
        name = "another process (it has not written its name yet)"
    return ProjectLocked(
        f"{path.parent.parent}: {name} is writing to this project and holds {path}. Only one of run, data "
        "prepare, train and eval may run on a project at a time; wait for it to finish (read-only commands "
        "such as 'models list' keep working). The lock is released when that process exits, even if it is killed.")


@contextlib.contextmanager
def project_lock(tailor_dir: str | Path, command: str | None = None) -> Iterator[Path]:
    """Hold the project's writer lock for the block; refuse at once when another process has it.

    Args:
        tailor_dir: the project's ``.tailor/`` folder.
        command: what to record as the holder (default: this process's command line).

    Raises:
        ProjectLocked: another process holds the lock; the message names its pid, command and start.
    """
    tailor_dir = Path(tailor_dir).resolve()
    path = tailor_dir / LOCK_NAME
    with _guard:
        if _held.get(path):
            _held[path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield path
        finally:
            with _guard:
                _held[path] -= 1
        return
    tailor_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise _refusal(path, holder(tailor_dir)) from None
    try:
        info = {"pid": os.getpid(), "command": command or _command(), "started_at": dt.datetime.now().timestamp()}
        from .artifacts import atomic_write_json

        atomic_write_json(tailor_dir / HOLDER_NAME, info)
        with _guard:
            _held[path] = 1
        yield path
    finally:
        with _guard:
            _held.pop(path, None)
        with contextlib.suppress(OSError):
            (tailor_dir / HOLDER_NAME).unlink()
        lock.release()
