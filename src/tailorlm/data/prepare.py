"""``prepare_dataset``: raw sources to a versioned, scrubbed, deduplicated dataset with a card.

    ingest ─► validate+clean+filter ─► scrub PII ─► length check ─► signatures ─► dedup ─► split ─► write

Records stream from the sources into an Arrow file on disk; each per-record step is a
``datasets.map`` over it (``data.num_proc`` workers), so memory stays flat as data grows. Only
small per-record arrays (status, hash, label, cluster) are held in memory for dedup and splits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..artifacts import atomic_dir
from ..results import DatasetVersion
from .clean import steps_for
from .dedup import cluster, jaccard
from .errors import DataError
from .ingest import SourceFile, detect_encoding, expand_sources, iter_rows
from .split import assign_splits
from .steps import convert_batch, hash_batch, length_batch, scrub_batch
from .write import write_version

log = logging.getLogger(__name__)

RAW_SCHEMA = pa.schema([("idx", pa.int64()), ("source", pa.string()), ("line", pa.int64()),
                        ("raw", pa.large_string()), ("status", pa.string()), ("message", pa.string())])
CHUNK = 2000  # rows per Arrow record batch while ingesting


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    import datasets

    was_disabled = datasets.is_progress_bar_enabled() is False
    (datasets.enable_progress_bars if enabled else datasets.disable_progress_bars)()
    try:
        yield
    finally:
        (datasets.disable_progress_bars if was_disabled else datasets.enable_progress_bars)()


def ingest_to_arrow(files: list[SourceFile], out: Path) -> int:
    """Stream every raw row into an Arrow IPC stream file (what ``Dataset.from_file`` maps)."""
    n = 0
    with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_stream(sink, RAW_SCHEMA) as writer:
        buf: dict[str, list] = {k: [] for k in RAW_SCHEMA.names}
        for _, row in iter_rows(files):
            for k, v in (("idx", n), ("source", row.source), ("line", row.line), ("raw", row.raw),
                         ("status", f"quarantine:{row.code}" if row.code else ""), ("message", row.message)):
                buf[k].append(v)
            n += 1
            if len(buf["idx"]) >= CHUNK:
                writer.write_batch(pa.record_batch(buf, schema=RAW_SCHEMA))
                buf = {k: [] for k in RAW_SCHEMA.names}
        if buf["idx"]:
            writer.write_batch(pa.record_batch(buf, schema=RAW_SCHEMA))
    return n


def _map(ds, fn, work: Path, name: str, d, fn_kwargs: dict[str, Any], num_proc: int | None = None, **kw):
    return ds.map(fn, batched=True, batch_size=d.batch_size, num_proc=num_proc if num_proc is not None else
                  (d.num_proc if d.num_proc > 1 else None), fn_kwargs=fn_kwargs,
                  cache_file_name=str(work / f"{name}.arrow"), new_fingerprint=f"{name}-{work.name}",
                  desc=name, **kw)


def _column(ds, name: str) -> Iterator[pa.Array]:
    for table in ds.select_columns([name]).with_format("arrow").iter(batch_size=10_000):
        yield table.column(0).combine_chunks()


def live_labels(ds) -> list[str]:
    """Sorted labels of the rows still alive (classification)."""
    found: set[str] = set()
    for table in ds.select_columns(["status", "label"]).with_format("arrow").iter(batch_size=10_000):
        alive = pc.equal(table["status"], "")
        found.update(x for x in table.filter(alive)["label"].to_pylist() if x is not None)
    return sorted(found)


def _tokenizer(spec, tokenizer):
    if tokenizer is not None:
        return tokenizer
    from ..models import load_tokenizer, resolve_base

    return load_tokenizer(resolve_base(spec.model.base).path, spec.model.revision)


def curate(spec, files: list[SourceFile], work: Path, tokenizer) -> tuple[Any, list[str]]:
    """Run the per-record steps; returns the final Arrow-backed dataset and the label set."""
    from datasets import Dataset

    d, task = spec.data, spec.objective.task
    ds = Dataset.from_file(str(work / "raw.arrow"))
    records = {sf.rel: sf.records for sf in files}
    ds = _map(ds, convert_batch, work, "validate_clean_filter", d, dict(
        records=records, fields=d.fields, task=task, clean_steps=steps_for(d.clean_html, d.unicode_form, d.fix_unicode),
        filters=d.filters, known_labels=list(spec.objective.labels), dedup=d.dedup), remove_columns=["raw"])
    labels = list(spec.objective.labels) or (live_labels(ds) if task == "classification" else [])
    if d.pii.enabled:
        ds = _map(ds, scrub_batch, work, "scrub_pii", d, dict(pii_json=d.pii.model_dump_json()))
    else:
        ds = ds.add_column("pii", ["{}"] * len(ds))
    ds = _map(ds, length_batch, work, "token_length", d, dict(
        objective=spec.objective, labels=labels, tokenizer=_tokenizer(spec, tokenizer),
        max_seq_len=d.max_seq_len, policy=d.length_policy))
    if d.length_policy == "error":
        _raise_too_long(ds)
    ds = _map(ds, hash_batch, work, "exact_hash", d, {})
    return ds, labels


def _raise_too_long(ds) -> None:
    bad = ds.filter(lambda s: s == "quarantine:too_long", input_columns=["status"], keep_in_memory=True)
    if len(bad):
        first = bad[0]
        raise DataError(
            f"{len(bad)} record(s) exceed data.max_seq_len and data.length_policy is 'error'. First: "
            f"{first['source']}:{first['line']} (id {first['id']}): {first['message']} "
            "Set length_policy: truncate or drop, or raise max_seq_len."
        )


def deduplicate(ds, d, work: Path):
    """Exact + near-duplicate clustering; signatures go through a disk memmap."""
    n = len(ds)
    status = np.concatenate([np.asarray(a.to_pylist(), dtype=object) for a in _column(ds, "status")]) \
        if n else np.zeros(0, dtype=object)
    alive = status == ""
    hashes = ((i, h) for i, h in enumerate(x for a in _column(ds, "hash") for x in a.to_pylist()) if alive[i])
    sigs = None
    if d.dedup.near and n:
        sigs = np.lib.format.open_memmap(work / "minhash.npy", mode="w+", dtype=np.uint64, shape=(n, d.dedup.num_perm))
        start = 0
        for arr in _column(ds, "minhash"):
            block = np.asarray(arr.flatten().to_numpy(zero_copy_only=False), dtype=np.uint64)
            sigs[start:start + len(arr)] = block.reshape(len(arr), d.dedup.num_perm)
            start += len(arr)
        sigs.flush()
    if not d.dedup.exact:
        hashes = ((i, f"row{i}") for i in np.flatnonzero(alive))
    texts = ds.select_columns(["near_text"])
    ngram = d.dedup.ngram

    def verify(i: int, j: int) -> float:  # exact Jaccard on the stored near-duplicate texts
        return jaccard(texts[i]["near_text"], texts[j]["near_text"], ngram)

    return status, cluster(n, alive, hashes, sigs, d.dedup.threshold, d.dedup.near_action, verify)


def prepare_dataset(spec, ws, *, tokenizer=None, progress: bool = True) -> DatasetVersion:
    """Turn ``spec.data.sources`` into a dataset version under ``.tailor/datasets/<project>/<version>/``.

    Args:
        spec: the parsed :class:`~tailorlm.spec.TailorSpec`.
        ws: the :class:`~tailorlm.workspace.Workspace` (paths and store).
        tokenizer: a Hugging Face tokenizer for the ``max_seq_len`` check; loaded from
            ``spec.model.base`` when ``None``.
        progress: show progress bars.

    Returns:
        The :class:`~tailorlm.results.DatasetVersion` (path, version id, labels, counts).

    Raises:
        DataError: a file-level problem (binary file, undetectable encoding), fewer than
            ``data.min_records`` valid records, or a too-long record under ``length_policy: error``.
    """
    files = expand_sources(spec.data.sources, spec.root)
    for sf in files:
        detect_encoding(sf)
    parent = ws.datasets / spec.project
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=parent, prefix=".work-"))
    try:
        with _progress_bars(progress):
            n = ingest_to_arrow(files, work / "raw.arrow")
            log.info("ingested %d records from %d file(s)", n, len(files))
            ds, labels = curate(spec, files, work, tokenizer)
            status, dedup = deduplicate(ds, spec.data, work)
            groups, split_of = _splits(ds, status, dedup, spec)
            out = work / "out"
            out.mkdir()
            version, counts, manifest = write_version(spec, files, ds, status, dedup, split_of, groups, labels, out)
        final = parent / version
        with atomic_dir(final) as staging:
            for p in out.iterdir():
                shutil.move(str(p), staging / p.name)
        _record_in_store(ws, spec.project, version, final, manifest)
        return DatasetVersion(name=spec.project, version=version, path=str(final),
                              labels=sorted(counts.get("labels", {})) if labels else [], counts=counts)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _splits(ds, status: np.ndarray, dedup, spec) -> tuple[list[str], dict[int, str]]:
    """Cluster id and split per kept record (by index)."""
    final_alive = (status == "") & (dedup.status == 0)
    keep = np.flatnonzero(final_alive)
    ids = [x for a in _column(ds, "id") for x in a.to_pylist()]
    labs = [x for a in _column(ds, "label") for x in a.to_pylist()]
    groups = [ids[int(dedup.root[i])] for i in range(len(ids))]
    n_valid = len(keep)
    if n_valid < spec.data.min_records:
        raise DataError(_too_few_message(n_valid, spec.data.min_records, status, dedup))
    s = spec.data.split
    names = assign_splits([groups[i] for i in keep], [labs[i] for i in keep], s.validation, s.test, s.seed,
                          s.stratify and spec.objective.task == "classification")
    return groups, {int(i): name for i, name in zip(keep, names)}


def _too_few_message(n: int, need: int, status: np.ndarray, dedup) -> str:
    from collections import Counter

    reasons = Counter(s for s in status if s)
    reasons.update({"duplicate:exact": int((dedup.status == 1).sum()), "duplicate:near": int((dedup.status == 2).sum())})
    top = ", ".join(f"{k} x{v}" for k, v in reasons.most_common(5) if v)
    return (f"only {n} valid record(s) remain, at least {need} are needed before any training "
            f"(data.min_records). Removed: {top or 'nothing (the sources are nearly empty)'}. "
            "See the messages above or fix the sources.")


def _record_in_store(ws, name: str, version: str, path: Path, manifest: dict[str, Any]) -> None:
    """One ``datasets`` row and one ``record_lineage`` row per kept record (for erasure requests)."""
    import time

    from sqlalchemy import text

    with ws.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM datasets WHERE name=:n AND version=:v"), {"n": name, "v": version})
        conn.execute(text("DELETE FROM record_lineage WHERE dataset_version=:v"), {"v": version})
        conn.execute(text("INSERT INTO datasets (name, version, path, manifest, created_at) VALUES (:n,:v,:p,:m,:t)"),
                     {"n": name, "v": version, "p": str(path), "m": json.dumps(manifest, default=str), "t": time.time()})
        with open(path / "lineage.jsonl", encoding="utf-8") as f:
            batch = []
            for line in f:
                batch.append(json.loads(line))
                if len(batch) >= 5000:
                    _insert_lineage(conn, version, batch)
                    batch = []
            _insert_lineage(conn, version, batch)


def _insert_lineage(conn, version: str, rows: list[dict[str, Any]]) -> None:
    from sqlalchemy import text

    if rows:
        conn.execute(text("INSERT INTO record_lineage (dataset_version, record_id, source, line, split) "
                          "VALUES (:v, :id, :source, :line, :split)"), [{"v": version, **r} for r in rows])
