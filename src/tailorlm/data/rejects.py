"""Why a data stage kept too few records: the top reasons with examples, and the full quarantine log.

When every record (or nearly every one) fails, no dataset version is written, so the per-record
reasons would be lost with it. :func:`explain_rejects` writes them to
``.tailor/datasets/<project>/rejected/quarantine.jsonl`` (the same rows a version's
``quarantine.jsonl`` holds: source, line, id, code, message; never the record's text) and returns
the summary the error shows.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from ..artifacts import atomic_open

EXAMPLES = 2  # per reason, in the error message
TOP = 4  # reasons shown in the error message


def _example(row: dict, reason: str, first: bool) -> str:
    """``file:line (id X): message`` for the first example of a reason, ``file:line`` for the others."""
    where = f"{row['source']}:{row['line']}"
    if row["id"] and row["id"] != where:
        where += f" (id {row['id']})"
    return f"{where}: {(row['message'] or reason).rstrip('.')}" if first else where


def explain_rejects(ds, status, dedup, out: Path) -> str:
    """Write every removed record's reason to ``out`` (JSONL) and summarise the top reasons.

    Args:
        ds: the curated dataset (columns ``status``, ``source``, ``line``, ``id``, ``message``).
        status: per-record status (``prepare.Statuses``); dedup: the clustering result.
        out: the quarantine file to write (replaced atomically).

    Returns:
        "quarantine:missing_field x40 (e.g. data/a.jsonl:3 id m3: ...); ..." for the error message.
    """
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    with atomic_open(out) as f:
        start = 0
        for t in ds.select_columns(["source", "line", "id", "message"]).with_format("arrow").iter(batch_size=10_000):
            for k, row in enumerate(t.to_pylist()):
                i = start + k
                reason = status[i] or {1: "duplicate:exact", 2: "duplicate:near", 3: "duplicate:test_overlap"}.get(int(dedup.status[i]), "")
                if not reason:
                    continue
                counts[reason] += 1
                code = reason.split(":", 1)[1] if reason.startswith("quarantine:") else reason
                f.write(json.dumps({"source": row["source"], "line": row["line"], "id": row["id"], "code": code,
                                    "message": row["message"]}, ensure_ascii=False) + "\n")
                if len(examples[reason]) < EXAMPLES:
                    examples[reason].append(_example(row, reason, first=not examples[reason]))
            start += t.num_rows
    parts = [f"{reason} x{n} (e.g. {', also '.join(examples[reason])})" for reason, n in counts.most_common(TOP)]
    more = len(counts) - TOP
    return "; ".join(parts) + (f"; and {more} other reason(s)" if more > 0 else "")
