"""Write a dataset version: split Parquet files, quarantine/removal logs, manifest, card and plots.

One streaming pass over the curated Arrow table: each row is either written to its split, or
logged with its reason (``quarantine.jsonl`` for invalid records, ``removed.jsonl`` for filtered
and duplicate ones). Logs carry source, line, id and reason, never the record's text, so they hold
no unscrubbed personal data. The version id hashes the output rows and the data spec section
(less the settings that only change how fast it is built: :data:`EXECUTION_KEYS`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..artifacts import atomic_write_json, atomic_write_text, code_version, sha256_json
from .card import CardStats, demographic_groups, plot_token_lengths, render_card
from .split import SPLITS
from .steps import content_text

OUT_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("line", pa.int64()), ("kind", pa.string()),
    ("prompt", pa.string()), ("completion", pa.string()), ("label", pa.string()), ("text", pa.string()),
    ("chosen", pa.string()), ("rejected", pa.string()), ("cluster", pa.string()),
])
FLUSH = 5000
# DedupResult.status codes; 3 is set by the data stage for a training-side exact or near copy of a
# record of a source marked ``split: test`` (removed from training, counted in the card).
DUPLICATE_KINDS = {1: "exact", 2: "near", 3: "test_overlap"}
# data.* settings that change how the work is spread, never the rows: the same sources and curation
# settings give the same version with num_proc: 1 or 8 (the manifest still records them).
EXECUTION_KEYS = ("num_proc", "batch_size")


def version_section(spec) -> dict[str, Any]:
    """The ``data`` spec section as hashed into the version id (without :data:`EXECUTION_KEYS`)."""
    return {k: v for k, v in spec.section_dict("data").items() if k not in EXECUTION_KEYS}


class SplitWriter:
    """Buffered Parquet writer for one split that also hashes the rows it writes."""

    def __init__(self, path: Path):
        self.writer = pq.ParquetWriter(str(path), OUT_SCHEMA)
        self.buf: list[dict[str, Any]] = []
        self.hash = hashlib.sha256()
        self.n = 0

    def add(self, row: dict[str, Any]) -> None:
        self.hash.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        self.buf.append(row)
        self.n += 1
        if len(self.buf) >= FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.writer.write_table(pa.Table.from_pylist(self.buf, schema=OUT_SCHEMA))
            self.buf = []

    def close(self) -> str:
        self.flush()
        self.writer.close()
        return self.hash.hexdigest()


def _removal(row: dict[str, Any], reason: str, message: str, dup_id: str | None = None) -> dict[str, Any]:
    out = {"source": row["source"], "line": row["line"], "id": row["id"], "reason": reason, "message": message}
    if dup_id:
        out["duplicate_of"] = dup_id
    return out


def _account(row, i, status, dedup, id_of, stats, counts, logs) -> bool:
    """Log a removed row with its reason and count it; True when the row is kept."""
    s = status[i]
    if s.startswith("quarantine:"):
        code = s.split(":", 1)[1]
        counts["quarantined_by_code"][code] += 1
        stats.quarantine_examples[code].append(f"{row['source']}:{row['line']}")
        logs["quarantine"].write(json.dumps({"source": row["source"], "line": row["line"], "id": row["id"],
                                             "code": code, "message": row["message"]}, ensure_ascii=False) + "\n")
        return False
    if s.startswith("filter:"):
        counts["filtered_by_name"][s.split(":", 1)[1]] += 1
        logs["removed"].write(json.dumps(_removal(row, s, row["message"]), ensure_ascii=False) + "\n")
        return False
    if dedup.status[i]:
        kind = DUPLICATE_KINDS[int(dedup.status[i])]
        counts[f"duplicates_{kind}"] += 1
        other = id_of(int(dedup.duplicate_of[i]))
        what = "copy of test record" if kind == "test_overlap" else f"{kind} duplicate of"
        logs["removed"].write(json.dumps(_removal(row, f"duplicate:{kind}", f"{what} {other}", other),
                                         ensure_ascii=False) + "\n")
        return False
    return True


def _observe(row: dict[str, Any], split: str, stats: CardStats) -> None:
    pii = json.loads(row["pii"] or "{}")
    stats.slots_kept += pii.pop("TEMPLATE_SLOT", 0)  # template slots are counted, not PII
    stats.pii_kept.update(pii)
    stats.records_with_pii += bool(pii)
    stats.ntokens.append(int(row["ntokens"]))
    stats.truncated += bool(row["truncated"])
    if row["label"] is not None:
        stats.labels[row["label"]] += 1
        stats.split_labels[split][row["label"]] += 1
        for g in demographic_groups(content_text(row)):
            stats.demo[row["label"]][g] += 1


def _stream(ds, out: Path, status, dedup, split_of, stats) -> tuple[dict, dict[str, str]]:
    ids = ds.select_columns(["id"])

    def id_of(i: int) -> str:  # random access into the memory-mapped table; only for duplicates/clusters
        return ids[i]["id"]

    counts: dict[str, Any] = {"quarantined_by_code": Counter(), "filtered_by_name": Counter(),
                              "duplicates_exact": 0, "duplicates_near": 0, "duplicates_test_overlap": 0}
    writers = [SplitWriter(out / f"{s}.parquet") for s in SPLITS]
    by_source: dict[str, Counter] = {}
    cols = [c for c in ds.column_names if c not in ("bands", "edit_keys", "hash", "near_text")]
    with open(out / "quarantine.jsonl", "w", encoding="utf-8") as q, \
            open(out / "removed.jsonl", "w", encoding="utf-8") as r, \
            open(out / "lineage.jsonl", "w", encoding="utf-8") as lin:
        logs = {"quarantine": q, "removed": r}
        i = 0
        for table in ds.select_columns(cols).with_format("arrow").iter(batch_size=2000):
            for row in table.to_pylist():
                src = by_source.setdefault(row["source"], Counter())
                src["records_in"] += 1
                stats.pii_all.update({k: v for k, v in json.loads(row["pii"] or "{}").items() if k != "TEMPLATE_SLOT"})
                if _account(row, i, status, dedup, id_of, stats, counts, logs):
                    split = SPLITS[split_of[i]]
                    src["kept"] += 1
                    root = int(dedup.root[i])
                    cluster = row["id"] if root == i else id_of(root)
                    writers[split_of[i]].add({k: row[k] for k in OUT_SCHEMA.names if k != "cluster"} | {"cluster": cluster})
                    lin.write(json.dumps({"id": row["id"], "source_id": row.get("source_id", row["id"]),
                                          "source": row["source"], "line": row["line"], "split": split}) + "\n")
                    _observe(row, split, stats)
                i += 1
    hashes = {s: w.close() for s, w in zip(SPLITS, writers)}
    counts["splits"] = {s: w.n for s, w in zip(SPLITS, writers)}
    counts["by_source"] = {k: dict(v) for k, v in by_source.items()}
    return counts, hashes


def _finish_counts(counts: dict[str, Any], n: int) -> dict[str, Any]:
    counts["records_in"] = n
    counts["quarantined"] = sum(counts["quarantined_by_code"].values())
    counts["filtered"] = sum(counts["filtered_by_name"].values())
    counts["duplicates"] = counts["duplicates_exact"] + counts["duplicates_near"] + counts["duplicates_test_overlap"]
    counts["kept"] = sum(counts["splits"].values())
    counts["quarantined_by_code"] = dict(sorted(counts["quarantined_by_code"].items()))
    counts["filtered_by_name"] = dict(sorted(counts["filtered_by_name"].items()))
    total = counts["kept"] + counts["quarantined"] + counts["filtered"] + counts["duplicates"]
    if total != n:  # a bug, never a data problem: every row takes exactly one path above
        raise AssertionError(f"record counts do not reconcile: {n} in, {total} accounted for")
    return counts


def write_version(spec, files, ds, status, dedup, split_of, labels, out: Path, shared_ids=None):
    """Write every file of the version into ``out``; returns (version id, counts, manifest).

    Args:
        shared_ids: :class:`~tailorlm.data.ids.SharedIds` (records whose source id was shared), counted.
    """
    from ..privacy.pii import SPACY_PACKAGE, spacy_model_path

    stats = CardStats()
    counts, hashes = _stream(ds, out, status, dedup, split_of, stats)
    counts = _finish_counts(counts, len(ds))
    counts["truncated"] = stats.truncated
    counts["labels"] = dict(sorted(stats.labels.items()))
    counts["pii"] = dict(sorted(stats.pii_kept.items()))
    counts["shared_ids"] = {"records_renamed": shared_ids.records, "ids": shared_ids.ids} if shared_ids else \
        {"records_renamed": 0, "ids": 0}
    counts["template_slots"] = stats.slots_kept
    version = sha256_json({"rows": hashes, "data": version_section(spec)})[:12]
    d = spec.data
    manifest = {
        "name": spec.project, "version": version, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(), "task": spec.objective.task,
        "sources": [sf.to_manifest() | {"counts": counts["by_source"].get(sf.rel, {})} for sf in files],
        "counts": counts, "labels": sorted(stats.labels) if labels else [], "split_hashes": hashes,
        "spec": {"data": spec.section_dict("data"), "objective": spec.section_dict("objective")},
        "max_seq_len": d.max_seq_len, "length_policy": d.length_policy,
        "pii": {"enabled": d.pii.enabled, "entities": sorted(set(d.pii.entities) | {c.entity for c in d.pii.custom}),
                "ner_model": SPACY_PACKAGE if (d.pii.ner and spacy_model_path()) else None,
                "found_all": dict(sorted(stats.pii_all.items())), "found_kept": counts["pii"]},
        "files": ["train.parquet", "validation.parquet", "test.parquet", "quarantine.jsonl", "removed.jsonl",
                  "lineage.jsonl", "card.md", "token_lengths.png"],
    }
    plot_token_lengths(stats.ntokens, d.max_seq_len, out / "token_lengths.png")
    atomic_write_json(out / "manifest.json", manifest)
    atomic_write_text(out / "card.md", render_card(manifest, stats))
    return version, counts, manifest


__all__ = ["OUT_SCHEMA", "write_version"]
