"""``tailorlm data scan-pii``: run the scrubber over any file and print the spans it finds.

Output is one JSON object per detected span (``id``, ``start``, ``end``, ``entity_type``,
``score``; offsets are Python string indices into the field's text), so the scrubber can be
scored against any labelled set. ``--redact`` also writes the records with the field replaced.

Nothing is lost and nothing is half-written: the file is first read once without the models
(:func:`check_file`), and any record that cannot be scanned (unreadable line, no text in the
field) stops the command before a span is printed, with every such record's line and id. The
redacted copy is written to a temporary file next to ``OUT`` and renamed over it at the end.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import IO, Iterator

from ..artifacts import atomic_open
from .errors import DataError
from .formats import describe_value
from .ingest import EXTENSIONS, READERS, RawRow, SourceFile, detect_encoding

BATCH = 256
MAX_LISTED = 10  # problem records named in the error; the rest are counted


def _records(path: Path) -> Iterator[tuple[RawRow, dict | None]]:
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None or fmt == "text_file":
        raise DataError(f"{path}: scan-pii reads .jsonl, .json, .csv, .tsv or .parquet files.")
    sf = SourceFile(path, str(path), fmt)
    detect_encoding(sf)
    for row in READERS[fmt](sf):
        yield row, (json.loads(row.raw) if row.raw is not None else None)


def record_problem(row: RawRow, obj: dict | None, field: str, id_field: str) -> str | None:
    """Why a record cannot be scanned (``path:line (id ...): ...``), or ``None`` when it can."""
    if obj is None:
        return row.message or f"{row.source}:{row.line}: the record could not be read."
    value = obj.get(field)
    if isinstance(value, str):
        return None
    where = f"{row.source}:{row.line}" + (f" (id {obj[id_field]})" if isinstance(obj.get(id_field), (str, int)) else "")
    if field not in obj:
        return f"{where}: no field '{field}' (keys: {', '.join(sorted(obj)) or 'none'})."
    return f"{where}: field '{field}' is {describe_value(value)}, not text."


def check_file(path: Path, field: str, id_field: str) -> int:
    """Read ``path`` once without the models; raise :class:`DataError` naming every unscannable record.

    Returns:
        The number of records (all scannable).
    """
    problems, n = [], 0
    for row, obj in _records(path):
        n += 1
        problem = record_problem(row, obj, field, id_field)
        if problem:
            problems.append(problem)
    if problems:
        listed = "\n  ".join(problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise DataError(
            f"{path}: {len(problems)} of {n} record(s) cannot be scanned, so nothing was scanned or written:\n  "
            f"{listed}{more}\nFix: name the text column with --field (and the id column with --id-field), "
            "or repair or remove these records."
        )
    return n


def _batches(path: Path, field: str, id_field: str) -> Iterator[list[tuple[str, dict, str]]]:
    batch: list[tuple[str, dict, str]] = []
    for row, obj in _records(path):
        problem = record_problem(row, obj, field, id_field)
        if problem:  # only if the file changed since check_file
            raise DataError(problem)
        batch.append((str(obj.get(id_field, row.line)), obj, obj[field]))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def scan_file(path: Path, field: str, id_field: str, pii, stream: IO[str], redact: Path | None = None) -> tuple[int, int]:
    """Scan ``path``; write spans to ``stream`` and, with ``redact``, a scrubbed JSONL copy.

    Raises:
        DataError: the file cannot be read, or some records have no text in ``field`` (all of
            them are named; nothing is printed or written then).

    Returns:
        (records scanned, spans found).
    """
    from ..privacy.pii import Scrubber

    check_file(path, field, id_field)  # before the models load and before any output
    scrubber = None
    n_rec = n_span = 0
    with atomic_open(redact) if redact else contextlib.nullcontext() as sink:
        for batch in _batches(path, field, id_field):
            scrubber = scrubber or Scrubber.from_spec(pii)
            results = scrubber.analyze([t for _, _, t in batch])
            for (rid, obj, text), res in zip(batch, results):
                for r in res:
                    stream.write(json.dumps({"id": rid, "start": r.start, "end": r.end,
                                             "entity_type": r.entity_type, "score": round(r.score, 4)}) + "\n")
                    n_span += 1
                if sink:
                    obj = dict(obj)
                    obj[field] = scrubber.redact(text, res, {})[0]
                    sink.write(json.dumps(obj, ensure_ascii=False) + "\n")
                n_rec += 1
    return n_rec, n_span
