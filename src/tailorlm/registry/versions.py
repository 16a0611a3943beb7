"""Model versions: numbered 1..n per model name, immutable once written, soft-deleted.

The next number is taken under the store's write lock (``Store.locked``), in the same transaction
that inserts the row, sets the ``candidate`` alias and appends the audit rows, so two processes
registering at once get 1 and 2, never a duplicate or a gap. The artifact is staged in a hidden
sibling folder first and renamed into ``.tailor/models/<name>/<version>/`` inside that transaction.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..artifacts import atomic_write_json, atomic_write_text, check_replaceable, replace_dir
from ..results import DatasetVersion, EvalResult, ModelVersion, TrainRun
from . import audit
from .aliases import GATED_ALIASES, aliases_of, set_alias_in
from .cards import render_card
from .errors import RegistryError
from .lineage import artifact_hash, build_lineage

# A bare number is a version of the default model; anything else starts with the model name.
_REF = re.compile(r"^(?:(?P<num>[0-9]+)|(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?:@(?P<tag>[A-Za-z0-9_.-]+))?)$")
_SELECT = "SELECT name, version, run_id, dataset_version, path, lineage, evaluation, created_by, created_at, deleted_at FROM model_versions"


def _link_or_copy(src: Path, dst: Path) -> None:
    """Fill ``dst`` with ``src``'s files: hard links when on the same file system, else copies.

    Links cost no space; the trainer writes new files rather than editing in place, and the
    artifact hash in the lineage detects any later change (``tailorlm models show --verify``).
    """
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    if src.is_file():
        link(str(src), str(dst / src.name))
    else:
        shutil.copytree(src, dst, copy_function=link, dirs_exist_ok=True)


def row_to_version(row: Any, ws=None) -> ModelVersion:
    """A ``model_versions`` row as a :class:`ModelVersion`.

    With ``ws``, a stored path that no longer exists (the project folder was moved or restored
    elsewhere) is replaced by the version's folder in this workspace when that one exists.
    """
    m = row._mapping if hasattr(row, "_mapping") else row
    path = m["path"]
    if ws is not None and not Path(path).exists():
        here = ws.models / m["name"] / str(m["version"])
        path = str(here) if here.exists() else path
    return ModelVersion(
        name=m["name"], version=int(m["version"]), path=path, run_id=m["run_id"] or "",
        dataset_version=m["dataset_version"] or "", lineage=json.loads(m["lineage"]),
        evaluation=json.loads(m["evaluation"]) if m["evaluation"] else None,
        created_by=m["created_by"], created_at=float(m["created_at"]),
    )


def _next_version(conn: Connection, name: str) -> int:
    # Deleted versions keep their number: max over all rows, so numbers are never reused.
    top = conn.execute(text("SELECT MAX(version) FROM model_versions WHERE name = :n"), {"n": name}).scalar()
    return int(top or 0) + 1


def _install(staging: Path, final: Path) -> None:
    """Rename the staged folder into place; an orphan left by a crashed registration is replaced.

    The orphan lies in the registry's own folder and has no row, so it is replaced even without a
    marker; the shared guard still refuses anything that holds a project.
    """
    check_replaceable(final, force=True)
    replace_dir(staging, final)


def _insert(conn: Connection, mv: ModelVersion) -> None:
    conn.execute(text(
        "INSERT INTO model_versions (name, version, run_id, dataset_version, path, lineage, evaluation, created_by, created_at) "
        "VALUES (:name, :version, :run_id, :dataset_version, :path, :lineage, :evaluation, :created_by, :created_at)"
    ), {**mv.to_dict(), "lineage": json.dumps(mv.lineage, sort_keys=True, default=str),
        "evaluation": None if mv.evaluation is None else json.dumps(mv.evaluation, sort_keys=True, default=str)})


def _dataset_card(dataset: DatasetVersion) -> str:
    card = Path(dataset.path) / "card.md"
    return card.read_text(encoding="utf-8") if card.exists() else ""


def register_model(spec, ws, dataset: DatasetVersion, run: TrainRun, evaluation: EvalResult | None,
                   *, actor: str | None = None) -> ModelVersion:
    """Register the trained artifact of ``run`` as the next version of model ``spec.project``.

    Copies (or hard-links) ``run.model_path`` into ``.tailor/models/<name>/<version>/`` with
    ``lineage.json`` and ``MODEL_CARD.md``, records the version, points ``candidate`` at it and
    audits ``register`` and ``alias.set``; all in one transaction.

    Raises:
        RegistryError: the artifact is missing.
    """
    name, src = spec.project, Path(run.model_path)
    if not src.exists():
        raise RegistryError(f"run {run.run_id}: trained artifact {src} does not exist; rerun 'tailorlm train'")
    actor = actor or audit.current_actor()
    lineage = build_lineage(spec, dataset, run, evaluation, artifact_hash(src))
    model_dir = ws.models / name
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=model_dir, prefix=".staging-"))
    final: Path | None = None
    try:
        _link_or_copy(src, staging)
        card_src = _dataset_card(dataset)
        with ws.store.locked(f"model_versions:{name}") as conn:
            version = _next_version(conn, name)
            final = model_dir / str(version)
            created_at = time.time()
            lineage.update(model={"name": name, "version": version}, created_by=actor, created_at=created_at)
            mv = ModelVersion(name=name, version=version, path=str(final), run_id=run.run_id,
                              dataset_version=dataset.version, lineage=lineage,
                              evaluation=None if evaluation is None else evaluation.to_dict(),
                              created_by=actor, created_at=created_at)
            atomic_write_json(staging / "lineage.json", lineage)
            atomic_write_text(staging / "MODEL_CARD.md", render_card(mv, card_src))
            _insert(conn, mv)
            audit.append(conn, "register", mv.ref, {
                "run_id": run.run_id, "dataset_version": dataset.version, "base_model": run.base_ref,
                "artifact_sha256": lineage["artifact"]["sha256"],
                "evaluation_passed": None if evaluation is None else evaluation.passed,
            }, actor)
            set_alias_in(conn, name, "candidate", version, actor=actor)
            _install(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        # The transaction rolled back after the rename: do not leave a folder without a row.
        if final is not None and final.exists() and not _exists(ws, name, final):
            shutil.rmtree(final, ignore_errors=True)
        raise
    return mv


def _exists(ws, name: str, final: Path) -> bool:
    with ws.store.engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM model_versions WHERE name = :n AND version = :v"),
                            {"n": name, "v": int(final.name)}).first() is not None


def versions_of_dataset(conn: Connection, dataset_version: str) -> list[tuple[str, int, float | None]]:
    """(name, version, deleted_at) of every model version trained on ``dataset_version``."""
    return [tuple(r) for r in conn.execute(text(
        "SELECT name, version, deleted_at FROM model_versions WHERE dataset_version = :dv ORDER BY name, version"
    ), {"dv": dataset_version})]


def model_names(ws) -> list[str]:
    """Every model name with at least one version (deleted ones included)."""
    with ws.store.engine.connect() as conn:
        return [n for (n,) in conn.execute(text("SELECT DISTINCT name FROM model_versions ORDER BY name"))]


def parse_ref(ref: str) -> tuple[str | None, str | None]:
    """Split ``name@tag`` / ``name`` / ``3`` into (name, tag); tag is a number, alias or ``latest``."""
    m = _REF.match(ref.strip()) if ref else None
    if not m:
        raise RegistryError(f"model reference {ref!r} is not valid; write NAME@VERSION, NAME@ALIAS, NAME or VERSION (e.g. support-bot@3)")
    if m["num"]:
        return None, m["num"]
    return m["name"], m["tag"]


def _default_name(ws, default_name: str | None, ref: str) -> str:
    if default_name:
        return default_name
    names = model_names(ws)
    if len(names) == 1:
        return names[0]
    raise RegistryError(f"{ref!r} does not say which model; write NAME@{ref} (models: {', '.join(names) or 'none yet'})")


def _resolve_row(conn: Connection, name: str, tag: str | None, ref: str):
    if tag is None or tag == "latest":
        return conn.execute(text(f"{_SELECT} WHERE name = :n AND deleted_at IS NULL ORDER BY version DESC LIMIT 1"), {"n": name}).first()
    if tag.isdigit():
        return conn.execute(text(f"{_SELECT} WHERE name = :n AND version = :v"), {"n": name, "v": int(tag)}).first()
    alias = conn.execute(text("SELECT version FROM aliases WHERE name = :n AND alias = :a"), {"n": name, "a": tag}).first()
    if alias is None:
        known = [a for (a,) in conn.execute(text("SELECT alias FROM aliases WHERE name = :n ORDER BY alias"), {"n": name})]
        raise RegistryError(f"{ref}: model {name!r} has no alias {tag!r} (aliases: {', '.join(known) or 'none'})")
    return conn.execute(text(f"{_SELECT} WHERE name = :n AND version = :v"), {"n": name, "v": int(alias[0])}).first()


def resolve(ws, ref: str, *, default_name: str | None = None, include_deleted: bool = False) -> ModelVersion:
    """Find the version ``ref`` names: ``name@3``, ``name@production``, ``name`` (latest), ``3``.

    Args:
        default_name: model name for a bare version number (the CLI passes the spec's project).
        include_deleted: return soft-deleted versions too (``models show``); otherwise they raise.

    Raises:
        RegistryError: the name, version or alias does not exist, or the version was deleted.
    """
    name, tag = parse_ref(ref)
    if name is None:
        name = _default_name(ws, default_name, ref)
    with ws.store.engine.connect() as conn:
        row = _resolve_row(conn, name, tag, ref)
    if row is None:
        known = model_names(ws)
        what = f"model {name!r} has no version {tag}" if tag else f"model {name!r} has no live versions"
        raise RegistryError(f"{ref}: {what} (models: {', '.join(known) or 'none registered yet'}; see 'tailorlm models list')")
    if row._mapping["deleted_at"] is not None and not include_deleted:
        raise RegistryError(f"{name}@{row._mapping['version']} was deleted; see 'tailorlm audit log --action delete'")
    return row_to_version(row, ws)


def list_versions(ws, name: str | None = None, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Versions (newest first) as dicts: the :class:`ModelVersion` fields plus ``aliases``,
    ``deleted_at``, ``files`` (``present``, ``missing`` or ``purged``: :mod:`.health`) and ``passed``
    (the evaluation verdict, None when not evaluated)."""
    where, params = [], {}
    if name:
        where.append("name = :n")
        params["n"] = name
    if not include_deleted:
        where.append("deleted_at IS NULL")
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY name, version DESC"
    with ws.store.engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
        alias_map = aliases_of(conn)
    from .health import files_state

    out = []
    for r in rows:
        mv = row_to_version(r, ws)
        deleted_at = r._mapping["deleted_at"]
        out.append({**mv.to_dict(), "ref": mv.ref, "aliases": alias_map.get((mv.name, mv.version), []),
                    "deleted_at": deleted_at, "files": files_state(mv, deleted_at is not None),
                    "passed": None if mv.evaluation is None else bool(mv.evaluation.get("passed"))})
    return out


def delete_version(ws, ref: str, *, reason: str | None = None, force: bool = False, purge: bool = False,
                   actor: str | None = None, default_name: str | None = None) -> dict[str, Any]:
    """Soft-delete a version: it stops resolving, its aliases are removed, the row and card stay.

    Args:
        force: required (with ``reason``) when the version holds a gated alias (staging, production).
        purge: also delete the artifact files (erasure requests), keeping ``MODEL_CARD.md`` and
            ``lineage.json`` as the record of what existed.

    Returns:
        The audit row.
    """
    mv = resolve(ws, ref, default_name=default_name)
    actor = actor or audit.current_actor()
    with ws.store.locked(f"model_versions:{mv.name}") as conn:
        held = [a for (a,) in conn.execute(text("SELECT alias FROM aliases WHERE name = :n AND version = :v"),
                                           {"n": mv.name, "v": mv.version})]
        gated = sorted(set(held) & GATED_ALIASES)
        if gated and not (force and reason):
            raise RegistryError(f"{mv.ref} holds alias {', '.join(gated)}; move the alias first, or pass --force --reason '...'")
        conn.execute(text("UPDATE model_versions SET deleted_at = :t WHERE name = :n AND version = :v"),
                     {"t": time.time(), "n": mv.name, "v": mv.version})
        conn.execute(text("DELETE FROM aliases WHERE name = :n AND version = :v"), {"n": mv.name, "v": mv.version})
        row = audit.append(conn, "delete", mv.ref, {"reason": reason, "aliases_removed": held, "forced": force,
                                                    "purged": purge}, actor)
    if purge:
        from .lineage import artifact_files

        for p in artifact_files(Path(mv.path)):
            p.unlink()
    return row
