"""Lineage: what a model version was made from, and which versions contain a given record.

Two directions:

* :func:`build_lineage` gathers, at registration, the dataset version and its source file hashes,
  the base model and its weight hash, the resolved spec, the code version, the run and the
  artifact hash into one JSON-able dict stored with the version.
* :func:`find` answers erasure requests: a source file or record id -> the dataset versions that
  hold it (from ``record_lineage``, filled by the data stage, or the dataset manifests) -> the
  model versions trained on them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..artifacts import MARKER, code_version, sha256_file, sha256_json
from ..results import DatasetVersion, EvalResult, TrainRun
from ..store.datasets import dataset_manifests, lineage_counts

# Files the registry writes next to the artifact; excluded from the artifact hash.
REGISTRY_FILES = frozenset({"MODEL_CARD.md", "lineage.json"})


def artifact_files(folder: Path) -> list[Path]:
    """The trained artifact's files under ``folder`` (registry files and the tailorlm output marker excluded), sorted."""
    skip = REGISTRY_FILES | {MARKER}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() not in skip)


def artifact_hash(path: str | Path) -> dict[str, Any]:
    """Content hash, file count and size (bytes) of an artifact folder or single file."""
    path = Path(path)
    files = [path] if path.is_file() else artifact_files(path)
    digests = {(p.name if path.is_file() else p.relative_to(path).as_posix()): sha256_file(p) for p in files}
    return {"sha256": sha256_json(digests), "files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); the file is damaged, re-run the stage that wrote it") from None


def normalize_sources(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's source files as ``[{"path", "sha256", ...}]`` whatever shape the data stage used.

    Accepts a list of dicts (``path`` + ``sha256``/``hash``) or a mapping ``path -> hash | dict``.
    """
    raw = manifest.get("sources") or manifest.get("source_files") or []
    out: list[dict[str, Any]] = []
    items = raw.items() if isinstance(raw, dict) else enumerate(raw)
    for key, val in items:
        if isinstance(val, dict):
            entry = dict(val)
            entry.setdefault("path", key if isinstance(key, str) else entry.get("file", ""))
            entry.setdefault("sha256", entry.get("hash") or entry.get("content_hash"))
        else:
            entry = {"path": key, "sha256": val} if isinstance(key, str) else {"path": str(val), "sha256": None}
        out.append(entry)
    return out


def build_lineage(spec, dataset: DatasetVersion, run: TrainRun, evaluation: EvalResult | None,
                  artifact: dict[str, Any]) -> dict[str, Any]:
    """Everything needed to say how a version was made (no version number or creator yet)."""
    ds_path = Path(dataset.path)
    manifest_path = ds_path / "manifest.json"
    manifest = _read_json(manifest_path)
    resolved = spec.model_dump(mode="json")
    provenance = _read_json(Path(run.model_path) / "provenance.json") if Path(run.model_path).is_dir() else {}
    return {
        "dataset": {
            "name": dataset.name,
            "version": dataset.version,
            "path": str(ds_path),
            "manifest_sha256": sha256_file(manifest_path) if manifest_path.exists() else None,
            "sources": normalize_sources(manifest),
            "counts": dataset.counts,
            "labels": dataset.labels,
            "pii": manifest.get("pii"),  # entities scrubbed, counts found, NER model
        },
        "base_model": {"ref": run.base_ref, "path": run.base_path, "weight_hash": run.base_weight_hash},
        "run": {"id": run.run_id, "path": run.path, "method": run.method, "metrics": run.metrics,
                "provenance": provenance},
        "artifact": {**artifact, "source_path": str(run.model_path)},
        "spec": resolved,
        "spec_sha256": sha256_json(resolved),
        "code_version": code_version(),
        "evaluation": None if evaluation is None else {
            "eval_id": evaluation.eval_id, "passed": evaluation.passed, "report_html": evaluation.report_html,
        },
    }


def _source_keys(query: str, root: Path | None) -> list[str]:
    """Spellings of a source path to look up: as given, relative to the spec folder, absolute."""
    keys = {query}
    p = Path(query).expanduser()
    if root is not None:
        absolute = (p if p.is_absolute() else Path.cwd() / p).resolve()
        keys.add(str(absolute))
        try:
            keys.add(absolute.relative_to(root.resolve()).as_posix())
        except ValueError:
            pass
    return sorted(keys)


def _datasets_from_records(conn, keys: list[str]) -> dict[str, dict[str, Any]]:
    """dataset version -> {records, splits, matched_by} from ``record_lineage``."""
    found: dict[str, dict[str, Any]] = {}
    # source_id: a customer id shared by several records matches all of them (their record_id is
    # unique: <id>#2, ...); a record_id that is its own source id matches once, not twice.
    conditions = {"record_id": "record_id = :k OR (source_id = :k AND record_id <> :k)", "source": "source = :k"}
    for column, where in conditions.items():
        for key in keys:
            for dv, split, n in lineage_counts(conn, where, key):
                entry = found.setdefault(dv, {"records": 0, "splits": {}, "matched_by": column})
                entry["records"] += int(n)
                entry["splits"][split or "?"] = entry["splits"].get(split or "?", 0) + int(n)
    return found


def _datasets_from_manifests(conn, keys: list[str]) -> dict[str, dict[str, Any]]:
    """dataset version -> match, for versions whose manifest lists the file (no record rows needed)."""
    found: dict[str, dict[str, Any]] = {}
    for name, version, manifest in dataset_manifests(conn):
        try:
            sources = normalize_sources(json.loads(manifest))
        except (json.JSONDecodeError, TypeError, AttributeError):
            continue
        if any(str(s.get("path")) in keys for s in sources):
            found[version] = {"records": None, "splits": {}, "matched_by": "manifest"}
    return found


def find(ws, query: str, root: Path | None = None) -> dict[str, Any]:
    """Dataset versions and model versions that contain a source file or record id.

    Args:
        query: a source path (as in tailor.yaml, relative to ``root``, or absolute) or a record id.
        root: the folder tailor.yaml lives in, to match relative source paths.

    Returns:
        ``{"query", "datasets": [{"version", "records", "splits", "matched_by"}],
        "models": [{"name", "version", "dataset_version", "deleted", "aliases"}]}``.
    """
    from .aliases import aliases_of_version
    from .versions import versions_of_dataset  # versions.py imports this module: import here

    keys = _source_keys(query, root)
    with ws.store.engine.connect() as conn:
        datasets = _datasets_from_manifests(conn, keys)
        datasets.update(_datasets_from_records(conn, keys))  # record-level facts win
        models = []
        for dv in sorted(datasets):
            for name, version, deleted_at in versions_of_dataset(conn, dv):
                aliases = aliases_of_version(conn, name, version)
                models.append({"name": name, "version": int(version), "ref": f"{name}@{version}",
                               "dataset_version": dv, "deleted": deleted_at is not None, "aliases": aliases})
    return {
        "query": query,
        "datasets": [{"version": dv, **info} for dv, info in sorted(datasets.items())],
        "models": models,
    }
