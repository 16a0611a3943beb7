"""``tailorlm data scan-pii``: run the scrubber over any file and print the spans it finds.

Output is one JSON object per detected span (``id``, ``start``, ``end``, ``entity_type``,
``score``; offsets are Python string indices into the field's text), so the scrubber can be
scored against any labelled set. ``--redact`` also writes the records with the field replaced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Iterator

from .errors import DataError
from .ingest import EXTENSIONS, READERS, SourceFile, detect_encoding

BATCH = 256


def _records(path: Path) -> Iterator[tuple[int, dict | None]]:
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None or fmt == "text_file":
        raise DataError(f"{path}: scan-pii reads .jsonl, .json, .csv, .tsv or .parquet files.")
    sf = SourceFile(path, str(path), fmt)
    detect_encoding(sf)
    for row in READERS[fmt](sf):
        yield row.line, (json.loads(row.raw) if row.raw is not None else None)


def _batches(path: Path, field: str, id_field: str) -> Iterator[list[tuple[str, dict, str]]]:
    batch: list[tuple[str, dict, str]] = []
    for line, obj in _records(path):
        if obj is None or not isinstance(obj.get(field), str):
            raise DataError(f"{path}:{line}: no text field '{field}' (use --field to name the text column).")
        batch.append((str(obj.get(id_field, line)), obj, obj[field]))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def scan_file(path: Path, field: str, id_field: str, pii, stream: IO[str], redact: Path | None = None) -> tuple[int, int]:
    """Scan ``path``; write spans to ``stream`` and, with ``redact``, a scrubbed JSONL copy.

    Returns:
        (records scanned, spans found).
    """
    from .pii import Scrubber

    scrubber = None  # built on the first batch, so a bad file fails before the models load
    n_rec = n_span = 0
    sink = open(redact, "w", encoding="utf-8") if redact else None
    try:
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
    finally:
        if sink:
            sink.close()
    return n_rec, n_span
