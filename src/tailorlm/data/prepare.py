"""``prepare_dataset``: raw sources to a versioned, scrubbed, deduplicated dataset with a card.

    ingest ─► validate+clean+filter ─► scrub PII ─► length check ─► signatures ─► dedup ─► split ─► write

Records are read into an in-memory Arrow table; each per-record step is a ``datasets.map`` over
it (``data.num_proc`` workers) that stays in memory too. Nothing of a record touches the disk
before it is scrubbed: a raw or cleaned-but-unscrubbed copy in a cache file would outlive a
``kill -9``. The first files written are the scrubbed splits (and dedup's integer band keys).
Leftover work folders of a killed earlier run are removed when the next one starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..artifacts import atomic_dir
from ..results import DatasetVersion
from .clean import steps_for
from .dedup import cluster, edit_matcher, lsh_matcher, lsh_params
from .errors import DataError
from .ingest import SourceFile, detect_encoding, expand_sources, iter_rows
from .split import TEST, TRAIN, VALIDATION, assign_splits
from .steps import convert_batch, hash_batch, length_batch, no_pii_batch, scrub_batch
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


@contextlib.contextmanager
def _timed(step: str) -> Iterator[None]:
    """Log how long a step took (``tailorlm -v data prepare`` shows where the time goes)."""
    t0 = time.perf_counter()
    yield
    log.info("%s took %.1f s", step, time.perf_counter() - t0)


def ingest_table(files: list[SourceFile]) -> pa.Table:
    """Every raw row as an in-memory Arrow table (never written to disk: it holds unscrubbed PII)."""
    n = 0
    batches = []
    buf: dict[str, list] = {k: [] for k in RAW_SCHEMA.names}
    for _, row in iter_rows(files):
        for k, v in (("idx", n), ("source", row.source), ("line", row.line), ("raw", row.raw),
                     ("status", f"quarantine:{row.code}" if row.code else ""), ("message", row.message)):
            buf[k].append(v)
        n += 1
        if len(buf["idx"]) >= CHUNK:
            batches.append(pa.record_batch(buf, schema=RAW_SCHEMA))
            buf = {k: [] for k in RAW_SCHEMA.names}
    if buf["idx"] or not batches:
        batches.append(pa.record_batch(buf, schema=RAW_SCHEMA))
    return pa.Table.from_batches(batches, schema=RAW_SCHEMA)


def remove_leftovers(parent: Path) -> list[Path]:
    """Delete the ``.work-*`` folders of earlier runs whose process is gone (killed, crashed).

    Folders of a live process are kept. A name without a pid comes from a version of tailorlm
    that wrote raw records there, so it is removed too.
    """
    import re

    from ..artifacts import pid_alive

    gone = []
    for p in parent.glob(".work-*"):
        m = re.match(r"^\.work-(\d+)-", p.name)
        if m and pid_alive(int(m.group(1))):
            continue
        shutil.rmtree(p, ignore_errors=True)
        gone.append(p)
    return gone


def _map(ds, fn, work: Path, name: str, d, fn_kwargs: dict[str, Any], **kw):
    """One per-record step over the whole table, kept in memory (no cache file: see the module doc)."""
    environ = os.environ
    try:
        with _timed(name):
            return ds.map(fn, batched=True, batch_size=d.batch_size, num_proc=d.num_proc if d.num_proc > 1 else None,
                          fn_kwargs=fn_kwargs, keep_in_memory=True,
                          new_fingerprint=f"{name}-{work.name}", desc=name, **kw)
    finally:
        # datasets (5.2, arrow_dataset.py) leaves os.environ a deep copy after a num_proc map; code
        # holding the real mapping (rich's console width, later stages) would then read stale values.
        os.environ = environ


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
    from ..models.loader import ModelNotFound

    try:
        return load_tokenizer(resolve_base(spec.model.base, spec.model.revision, spec.model.download).path)
    except (ModelNotFound, OSError) as exc:
        raise DataError(f"cannot load the tokenizer of model.base for the max_seq_len check: {exc}") from None


def curate(spec, files: list[SourceFile], work: Path, tokenizer, raw: pa.Table) -> tuple[Any, list[str]]:
    """Run the per-record steps on the ingested ``raw`` table; returns the final dataset and the label set."""
    from datasets import Dataset

    d, task = spec.data, spec.objective.task
    ds = Dataset(raw)
    records = {sf.rel: sf.records for sf in files}
    ds = _map(ds, convert_batch, work, "validate_clean_filter", d, dict(
        records=records, fields=d.fields, task=task, clean_steps=steps_for(d.clean_html, d.unicode_form, d.fix_unicode),
        filters=d.filters, known_labels=list(spec.objective.labels), dedup=d.dedup), remove_columns=["raw"])
    labels = list(spec.objective.labels) or (live_labels(ds) if task == "classification" else [])
    if d.pii.enabled:
        ds = _map(ds, scrub_batch, work, "scrub_pii", d, dict(pii_json=d.pii.model_dump_json()))
    else:
        ds = _map(ds, no_pii_batch, work, "no_pii", d, {})
    ds = _map(ds, length_batch, work, "token_length", d, dict(
        objective=spec.objective, labels=labels, tokenizer=tokenizer,
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


class Statuses:
    """Per-record status as small int codes (a few bytes per record instead of a Python str)."""

    def __init__(self, n: int):
        self.codes = np.zeros(n, dtype=np.int16)
        self.names: list[str] = [""]
        self._index = {"": 0}

    def set_batch(self, start: int, values: list[str]) -> None:
        for k, v in enumerate(values):
            if v:
                self.codes[start + k] = self._index.setdefault(v, len(self.names))
                if len(self.names) < len(self._index):
                    self.names.append(v)

    def __getitem__(self, i: int) -> str:
        return self.names[self.codes[i]]

    def alive(self) -> np.ndarray:
        return self.codes == 0

    def counts(self) -> dict[str, int]:
        found = np.bincount(self.codes, minlength=len(self.names))
        return {name: int(found[k]) for k, name in enumerate(self.names) if name and found[k]}


def _scan(ds, columns: list[str], batch: int = 10_000) -> Iterator[tuple[int, pa.Table]]:
    """(start row, Arrow table) over a few columns, streaming."""
    start = 0
    for table in ds.select_columns(columns).with_format("arrow").iter(batch_size=batch):
        yield start, table
        start += table.num_rows


def deduplicate(ds, d, work: Path):
    """Exact + near-duplicate clustering from the ``hash``, ``bands`` and ``edit_keys`` columns."""
    n = len(ds)
    status = Statuses(n)
    hashes = np.zeros(n, dtype=np.int64)
    bands = lsh_params(d.dedup.threshold, d.dedup.num_perm)[0] if d.dedup.near else 0
    keys = np.lib.format.open_memmap(work / "bands.npy", mode="w+", dtype=np.int64, shape=(n, bands)) \
        if bands and n else None
    edit_k, edit_o = [], []  # (key, owner) chunks: at most edit_max_words + 1 keys per short record
    for start, t in _scan(ds, ["status", "hash", "bands", "edit_keys"]):
        status.set_batch(start, t["status"].to_pylist())
        hashes[start:start + t.num_rows] = t["hash"].to_numpy()
        if keys is not None:
            keys[start:start + t.num_rows] = t["bands"].combine_chunks().flatten().to_numpy().reshape(t.num_rows, bands)
            ek = t["edit_keys"].combine_chunks()
            edit_k.append(ek.flatten().to_numpy(zero_copy_only=False).astype(np.int64))
            edit_o.append(start + np.repeat(np.arange(t.num_rows), np.diff(ek.offsets.to_numpy())))
    if not d.dedup.exact:
        hashes = np.arange(n, dtype=np.int64)  # every record unique
    texts = ds.select_columns(["near_text"])

    def text_of(i: int) -> str:  # random access into the memory-mapped table
        return texts[i]["near_text"]

    matchers = []
    if keys is not None:
        matchers.append(lsh_matcher(keys, text_of, d.dedup.threshold, d.dedup.ngram))
        if d.dedup.edit_max_words and edit_k:
            matchers.append(edit_matcher(np.concatenate(edit_k), np.concatenate(edit_o), text_of))
    return status, cluster(n, status.alive(), hashes, d.dedup.near_action, matchers)


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
    tokenizer = _tokenizer(spec, tokenizer)  # fail fast, before the slow steps
    parent = ws.datasets / spec.project
    parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(parent)
    work = Path(tempfile.mkdtemp(dir=parent, prefix=f".work-{os.getpid()}-"))
    try:
        with _progress_bars(progress):
            with _timed("ingest"):
                raw = ingest_table(files)
            log.info("ingested %d records from %d file(s)", raw.num_rows, len(files))
            ds, labels = curate(spec, files, work, tokenizer, raw)
            del raw
            ds, shared_ids = _unique_ids(ds, files)
            with _timed("dedup"):
                status, dedup = deduplicate(ds, spec.data, work)
            fixed = fixed_splits(ds, files)
            n_overlap = remove_test_overlap(dedup, status.alive(), fixed)
            if n_overlap:
                log.warning("%d training record(s) duplicate a test record (exactly or nearly) and were removed "
                            "from training (see removed.jsonl: duplicate:test_overlap)", n_overlap)
            split_of = _splits(ds, status, dedup, spec, fixed, parent)
            out = work / "out"
            out.mkdir()
            with _timed("write"):
                version, counts, manifest = write_version(spec, files, ds, status, dedup, split_of, labels, out,
                                                          shared_ids=shared_ids)
        final = parent / version
        with atomic_dir(final) as staging:
            for p in out.iterdir():
                shutil.move(str(p), staging / p.name)
        _record_in_store(ws, spec.project, version, final, manifest)
        shutil.rmtree(parent / "rejected", ignore_errors=True)  # a failed earlier attempt's log
        return DatasetVersion(name=spec.project, version=version, path=str(final),
                              labels=sorted(counts.get("labels", {})) if labels else [], counts=counts)
    finally:
        shutil.rmtree(work, ignore_errors=True)


FIXED = {"train": TRAIN, "validation": VALIDATION, "test": TEST}


def fixed_splits(ds, files: list[SourceFile]) -> np.ndarray:
    """Split code per record from its source's ``split:`` (-1 for unmarked sources)."""
    code = {sf.rel: FIXED[sf.split] for sf in files if sf.split}
    out = np.full(len(ds), -1, dtype=np.int8)
    if code:
        for start, t in _scan(ds, ["source"]):
            out[start:start + t.num_rows] = [code.get(x, -1) for x in t["source"].to_pylist()]
    return out


def remove_test_overlap(dedup, alive: np.ndarray, fixed: np.ndarray) -> int:
    """Mark every non-test record whose duplicate cluster holds a test-source record (status 3), and
    keep every valid record of a test source (none is removed as a duplicate of another).

    Test sources are read first (see ``expand_sources``), so a cluster's representative (its
    smallest index) is a test record whenever the cluster has one; the training copies go, whether
    dedup had already marked them exact/near duplicates or kept them (``near_action: keep``).
    Returns how many records were marked.
    """
    if not (fixed == TEST).any():
        return 0
    # A dataset's own test file is evaluated whole (results compare with published ones): its records
    # are never removed as duplicates of one another.
    own = fixed == TEST
    dedup.status[own] = 0
    dedup.duplicate_of[own] = -1
    rows = np.arange(len(fixed))
    root_is_test = fixed[dedup.root] == TEST
    overlap = alive & root_is_test & (fixed != TEST) & (dedup.root != rows)
    dedup.status[overlap] = 3
    dedup.duplicate_of[overlap] = dedup.root[overlap]
    return int(overlap.sum())


def _unique_ids(ds, files: list[SourceFile]):
    """Make record ids unique (``data.ids``); a warning on the first source names the shared ones."""
    from .ids import unique_ids
    from .ingest import warn

    ds, shared = unique_ids(ds)
    if shared.records and files:
        warn(files[0], shared.warning(", ".join(sf.rel for sf in files)))
    return ds, shared


def _label_codes(ds) -> tuple[np.ndarray, dict[str, int]]:
    labels = np.full(len(ds), -1, dtype=np.int32)
    vocab: dict[str, int] = {}
    for start, t in _scan(ds, ["label"]):
        for k, lab in enumerate(t["label"].to_pylist()):
            if lab is not None:
                labels[start + k] = vocab.setdefault(lab, len(vocab))
    return labels, vocab


def _splits(ds, status: Statuses, dedup, spec, fixed: np.ndarray, parent: Path) -> np.ndarray:
    """Split code per record (index into ``SPLITS``; -1 for records not kept).

    Records of marked sources keep their split; the others are assigned with ``data.split``'s
    fractions, without a test share when a source is marked test and without a validation share
    when one is marked validation. Records of ``train`` sources give the validation share when no
    source is marked validation.

    Too few kept records raise :class:`DataError` naming the top reasons (with file:line examples);
    every reason is written to ``parent/rejected/quarantine.jsonl``.
    """
    keep = np.flatnonzero(status.alive() & (dedup.status == 0))
    if len(keep) < spec.data.min_records:
        from .rejects import explain_rejects

        log_path = parent / "rejected" / "quarantine.jsonl"
        reasons = explain_rejects(ds, status, dedup, log_path)
        raise DataError(_too_few_message(len(keep), spec.data.min_records, reasons, log_path))
    labels, vocab = _label_codes(ds)
    s = spec.data.split
    stratify = s.stratify and spec.objective.task == "classification"
    marked = set(fixed[fixed >= 0].tolist())
    val = 0.0 if VALIDATION in marked else s.validation
    test = 0.0 if TEST in marked else s.test
    split_of = np.full(len(ds), -1, dtype=np.int8)
    split_of[keep] = fixed[keep]
    pools = [(keep[fixed[keep] == -1], val, test)]
    if VALIDATION not in marked:
        pools.append((keep[fixed[keep] == TRAIN], val, 0.0))
    for idx, v, t in pools:
        if len(idx):
            split_of[idx] = assign_splits(dedup.root[idx], labels[idx], v, t, s.seed, stratify)
    if not (split_of[keep] == TEST).any():
        raise DataError(_empty_test_message(len(keep), len(vocab), s.test))
    return split_of


def _empty_test_message(n: int, n_labels: int, test: float) -> str:
    per_label = f" across {n_labels} labels ({n / max(n_labels, 1):.1f} per label)" if n_labels else ""
    return (f"the test split would be empty: {n} kept record(s){per_label} with data.split.test: {test} "
            "leave no record to evaluate on. Add records, raise data.split.test, or set "
            "data.split.stratify: false so small labels are not each rounded down to zero.")


def _too_few_message(n: int, need: int, reasons: str, log_path: Path) -> str:
    return (f"only {n} valid record(s) remain, at least {need} are needed before any training "
            f"(data.min_records). Removed: {reasons or 'nothing (the sources are nearly empty)'}. "
            f"Every removed record and its reason: {log_path}. Fix the sources or data.fields, then rerun.")


def _record_in_store(ws, name: str, version: str, path: Path, manifest: dict[str, Any]) -> None:
    """One ``datasets`` row and one ``record_lineage`` row per kept record (for erasure requests)."""
    from ..store.datasets import replace_dataset

    with open(path / "lineage.jsonl", encoding="utf-8") as f:
        replace_dataset(ws.store, name, version, path, manifest, (json.loads(line) for line in f))
