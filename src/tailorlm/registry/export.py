"""Exporting a model version out of the registry: the adapter as is, or merged into its base.

Either way the export carries ``MODEL_CARD.md`` and ``lineage.json`` and is audited (``export``),
so a model found on a server later can be traced back to its registry entry by its hashes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..artifacts import atomic_dir, check_replaceable
from ..results import ModelVersion
from . import audit
from .errors import RegistryError
from .lineage import REGISTRY_FILES, artifact_hash


def _copy_registry_files(mv: ModelVersion, out: Path) -> None:
    for name in sorted(REGISTRY_FILES):
        src = Path(mv.path) / name
        if src.exists():
            shutil.copy2(src, out / name)


def export_version(ws, mv: ModelVersion, out_dir: str | Path, *, merge: bool = False,
                   actor: str | None = None, force: bool = False, protect: tuple = ()) -> dict[str, Any]:
    """Write version ``mv`` to ``out_dir`` (replaced atomically) and audit it.

    An existing ``out_dir`` is replaced only when it is a previous tailorlm export (``force``: any
    folder), and never when it is or holds the project, ``.tailor/`` or a ``protect`` path
    (:func:`tailorlm.artifacts.check_replaceable`).

    Args:
        merge: fold the adapter into the base weights (``tailorlm.models.trained.merge_and_save``),
            giving a plain transformers folder that loads without PEFT.
        force: replace an existing folder that tailorlm did not write.
        protect: more paths that must survive (the spec's data sources).

    Returns:
        The ``export`` audit row; ``details`` has ``out``, ``merged`` and the export's ``sha256``.

    Raises:
        RegistryError: the version's artifact files were purged or the method cannot be merged.
        UnsafeTarget: ``out_dir`` may not be replaced; nothing was written.
    """
    out = Path(out_dir).expanduser().resolve()
    src = Path(mv.path)
    if not (src / "adapter_config.json").exists() and not any(p.suffix == ".safetensors" for p in src.glob("*")):
        raise RegistryError(f"{mv.ref}: no model files in {src} (purged on deletion?); nothing to export")
    tailor_dir = ws.root.resolve() / ".tailor"
    if out == tailor_dir or tailor_dir in out.parents:
        raise RegistryError(f"--out {out} is inside the project's {tailor_dir} folder; choose a folder outside .tailor/")
    protect = (ws.root, tailor_dir, *protect)
    check_replaceable(out, force=force, protect=protect)  # before the (slow) merge
    if merge:
        from ..models.trained import merge_and_save

        try:
            merge_and_save(str(src), str(out), force=force, protect=protect)
        except ValueError as exc:
            raise RegistryError(f"{mv.ref}: {exc}") from None
        _copy_registry_files(mv, out)
    else:
        with atomic_dir(out, force=force, protect=protect) as staging:
            shutil.copytree(src, staging, dirs_exist_ok=True)
    digest = artifact_hash(out)
    return audit.record(ws, "export", mv.ref, {
        "out": str(out), "merged": merge, "sha256": digest["sha256"], "files": digest["files"],
        "source_sha256": mv.lineage.get("artifact", {}).get("sha256"),
    }, actor)
