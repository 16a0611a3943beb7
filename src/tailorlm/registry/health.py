"""Is a registered version's folder still there? A folder deleted by hand is reported, with the way back.

The registry row outlives its files: someone may ``rm -rf .tailor/models/NAME/3`` or restore a
backup without ``.tailor/models``. :func:`files_state` tells ``models list`` / ``show`` whether the
artifact is present, purged on purpose (``models delete --purge``) or missing, and
:func:`missing_message` says what to do about it.
"""

from __future__ import annotations

from pathlib import Path

from ..results import ModelVersion
from .lineage import artifact_files

PRESENT, MISSING, PURGED = "present", "missing", "purged"


def files_state(mv: ModelVersion, deleted: bool = False) -> str:
    """``present``, ``purged`` (a deleted version without its files) or ``missing``."""
    folder = Path(mv.path)
    if folder.is_dir() and artifact_files(folder):
        return PRESENT
    return PURGED if deleted else MISSING


def missing_message(ws, mv: ModelVersion) -> str:
    """What is missing and how to recover: a backup, the training run's own copy, or retiring the version."""
    folder = Path(mv.path)
    what = "does not exist" if not folder.exists() else "holds no model files"
    sha = str(mv.lineage.get("artifact", {}).get("sha256") or "")[:16]
    steps = [f"restore the folder from a backup (its artifact sha256 starts {sha})" if sha else "restore it from a backup"]
    run_copy = ws.runs / mv.run_id / "model" if mv.run_id else None
    if run_copy is not None and run_copy.is_dir():
        steps.append(f"copy the training run's artifact back: cp -r {run_copy} {folder}")
    steps.append(f"or retire it: tailorlm models delete {mv.ref} --reason \"files lost\"")
    return f"{mv.ref}: files missing: {folder} {what}. To recover, " + "; ".join(steps) + "."
