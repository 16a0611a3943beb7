"""Ingest: stream raw records out of JSONL, JSON, CSV/TSV, Parquet files and folders of text.

Every yielded row is a :class:`RawRow`: where it came from (source file relative to ``tailor.yaml``
and 1-based line/row number), the record as a JSON string, and an error code when the row itself
could not be read (it is then quarantined downstream, never dropped). Nothing here holds a whole
file in memory except plain ``.json`` arrays (use JSONL for large data).

Encoding and binary content are judged line by line: a line that does not decode (a stray
Latin-1 byte in UTF-8 text) or holds a NUL byte is quarantined with its file and line, and the
rest of the file is kept. Only a file where most lines hold control bytes is called binary
(:class:`DataError` with the file name and the fix); an empty file or a converted encoding is a
warning (:func:`warn`: logged for the user and kept in the manifest and card), and an empty file
contributes no records.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..artifacts import sha256_file
from .errors import DataError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".txt": "text_file",
    ".md": "text_file",
}
# A UTF-8 file where at most this fraction of lines fail to decode keeps UTF-8 and quarantines
# those lines (a few corrupted lines), instead of being re-decoded as a legacy encoding.
MAX_BAD_LINE_FRACTION = 0.01
SAMPLE_BYTES = 1 << 16

CSV_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)  # a 5 MB cell is a record, not a crash


@dataclass
class RawRow:
    source: str
    line: int
    raw: str | None
    code: str = ""
    message: str = ""


@dataclass
class SourceFile:
    """One input file as recorded in the manifest."""

    path: Path
    rel: str
    format: str
    records: str = "auto"
    sha256: str = ""
    bytes: int = 0
    encoding: str = "utf-8"
    warnings: list[str] = field(default_factory=list)
    split: str | None = None  # data.sources[].split: every record of this file goes to that split

    def to_manifest(self) -> dict:
        return {
            **({"split": self.split} if self.split else {}),
            "path": self.rel,
            "format": self.format,
            "records": self.records,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "encoding": self.encoding,
            "warnings": self.warnings,
        }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def expand_sources(sources, root: Path) -> list[SourceFile]:
    """Resolve the spec's sources into files (folders expand to their .txt/.md files)."""
    files: list[SourceFile] = []
    for i, src in enumerate(sources):
        path = Path(src.path).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.exists():
            raise DataError(f"data.sources[{i}].path: {path} does not exist. Fix the path (relative to tailor.yaml).")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
            if not found:
                raise DataError(f"data.sources[{i}].path: folder {path} holds no .txt or .md files.")
            files += [SourceFile(p, _relative(p, root), "text_file", "text", split=getattr(src, "split", None))
                      for p in found]
            continue
        fmt = src.format if src.format not in ("auto", "text_folder") else EXTENSIONS.get(path.suffix.lower())
        if fmt is None:
            raise DataError(
                f"{path}: cannot tell the format from the extension '{path.suffix}'. Set data.sources[{i}].format "
                f"to one of jsonl, json, csv, tsv, parquet."
            )
        files.append(SourceFile(path, _relative(path, root), fmt, src.records, split=getattr(src, "split", None)))
    # Sources marked test (then validation) are read first, so a duplicate cluster that spans splits
    # has a test record as its representative: the copy removed is always the training one.
    order = {"test": 0, "validation": 1}
    return sorted(files, key=lambda sf: order.get(sf.split or "", 2))


def warn(sf: SourceFile, message: str) -> None:
    """Record a file-level warning in the manifest and card, and show it (``WARNING`` log) now.

    The CLI shows WARNING logs on stderr, so ``tailorlm data prepare`` and ``tailorlm run`` print
    "latin.csv: not UTF-8 ...; converted" as they read the file, not only in the card afterwards.
    """
    sf.warnings.append(message)
    log.warning("%s", message)


# C0 control bytes that never occur in text (tab, newline, form feed and carriage return do).
CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
LINE_FORMATS = ("jsonl", "csv", "tsv")  # formats read line by line: a bad line is quarantined alone


@dataclass
class LineStats:
    """Per-line census of a file's bytes (streamed once)."""

    total: int = 0
    bad_utf8: int = 0  # lines that do not decode as UTF-8
    utf8_non_ascii: int = 0  # lines with non-ASCII text that does decode as UTF-8 (evidence of UTF-8)
    control: int = 0  # lines holding NUL or other control bytes
    first_bad: int = 0  # line number of the first line that does not decode


def line_stats(path: Path) -> LineStats:
    st = LineStats()
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            st.total += 1
            if len(raw.translate(None, CONTROL)) != len(raw):
                st.control += 1
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
                st.utf8_non_ascii += 1
            except UnicodeDecodeError:
                st.bad_utf8 += 1
                st.first_bad = st.first_bad or n
    return st


def detect_encoding(sf: SourceFile) -> None:
    """Fill ``sf.encoding``/``sha256``/``bytes``/``warnings``; raise on binary or undecodable files."""
    sf.sha256 = sha256_file(sf.path)
    sf.bytes = sf.path.stat().st_size
    if sf.format == "parquet":
        sf.encoding = "binary (parquet)"
        return
    with open(sf.path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
    if not sample.strip(b" \t\r\n\xef\xbb\xbf"):
        warn(sf, f"{sf.rel}: the file is empty; it contributes no records.")
        return
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        sf.encoding = "utf-16"
        warn(sf, f"{sf.rel}: decoded from UTF-16 (BOM) and converted to UTF-8.")
        return
    st = line_stats(sf.path)
    if st.control * 2 > st.total:
        raise DataError(
            f"{sf.rel}: looks like a binary file ({st.control} of {st.total} lines hold NUL or other control "
            f"bytes), not {sf.format} text. Point data.sources at the exported text/JSONL/CSV/Parquet file instead "
            "(a UTF-16 file without a byte-order mark also looks like this: convert it to UTF-8).")
    if st.control:
        warn(sf, f"{sf.rel}: {st.control} line(s) hold control bytes; those with a NUL byte or that do not parse "
                 "are quarantined, the rest is kept.")
    if sample.startswith(codecs.BOM_UTF8):
        sf.encoding = "utf-8-sig"
    _choose_encoding(sf, st)


def _choose_encoding(sf: SourceFile, st: LineStats) -> None:
    """UTF-8 with its bad lines quarantined, or a detected legacy encoding for a file that is not UTF-8."""
    bad = st.bad_utf8
    if bad == 0:
        return
    line_wise = sf.format in LINE_FORMATS
    # Valid multi-byte UTF-8 on as many lines as fail: a UTF-8 file with a few damaged lines.
    mostly_utf8 = st.utf8_non_ascii >= bad or bad / max(st.total, 1) <= MAX_BAD_LINE_FRACTION
    if line_wise and mostly_utf8:
        warn(sf, f"{sf.rel}: {bad} line(s) are not valid UTF-8 (first: line {st.first_bad}); they are quarantined "
                 "(bad_encoding), the rest is kept.")
        return
    best = _guess_legacy_encoding(sf.path)
    if best is None:
        if line_wise:
            warn(sf, f"{sf.rel}: {bad} of {st.total} lines are not valid UTF-8 (first: line {st.first_bad}) and no "
                     "other encoding fits; they are quarantined (bad_encoding), the rest is kept.")
            return
        raise DataError(
            f"{sf.rel}:{st.first_bad}: not UTF-8 and the encoding could not be detected. Convert it to UTF-8, e.g. "
            f"'iconv -f <encoding> -t UTF-8 {sf.rel} > fixed.{sf.format}'."
        )
    sf.encoding = best
    warn(sf, f"{sf.rel}: not UTF-8 ({bad} of {st.total} lines failed); detected {best} and converted to UTF-8. "
             "Check a few records; convert the file yourself if the guess is wrong.")


# Windows-1252 is what most non-UTF-8 business exports (Excel CSVs, old CRMs) use; on short or
# accent-poor samples charset_normalizer may rank an exotic cousin (mac_latin2, cp1250) first.
PREFERRED_LEGACY = "cp1252"
CHAOS_TOLERANCE = 0.1


def _guess_legacy_encoding(path: Path) -> str | None:
    """charset_normalizer's guess, preferring cp1252 when it decodes the file about as cleanly."""
    from charset_normalizer import from_path

    matches = list(from_path(path))
    if not matches:
        return None
    best = matches[0]
    for m in matches:
        if PREFERRED_LEGACY in m.could_be_from_charset and m.chaos <= best.chaos + CHAOS_TOLERANCE:
            return PREFERRED_LEGACY
    return best.encoding or None


def _text_lines(sf: SourceFile) -> Iterator[tuple[int, str | None]]:
    """(line number, decoded line or None when that line does not decode or holds a NUL byte), streaming.

    Lines are split on ``\\n`` bytes and decoded one by one (every encoding but UTF-16 keeps
    ``\\n`` a single byte), so one bad line never stops the file.
    """
    enc = "utf-8" if sf.encoding in ("utf-8", "utf-8-sig") else sf.encoding
    if enc == "utf-16":
        with open(sf.path, encoding=enc, errors="strict", newline="") as f:
            for n, line in enumerate(f, 1):
                yield n, line
        return
    with open(sf.path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            if b"\x00" in raw:  # never text; csv would keep it inside a field
                yield n, None
                continue
            try:
                yield n, raw.decode(enc)
            except UnicodeDecodeError:
                yield n, None


def _enc_name(sf: SourceFile) -> str:
    return "UTF-8" if sf.encoding.startswith("utf-8") else sf.encoding


def read_jsonl(sf: SourceFile) -> Iterator[RawRow]:
    for n, line in _text_lines(sf):
        if line is None:
            yield RawRow(sf.rel, n, None, "bad_encoding", f"{sf.rel}:{n}: bytes not valid {_enc_name(sf)} text (or a NUL byte); fix or re-export the line.")
            continue
        if not line.strip():
            continue  # blank lines are not records
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = f"{sf.rel}:{n}: not valid JSON ({exc.msg} at column {exc.colno}). Fix the line or remove it."
            yield RawRow(sf.rel, n, None, "unparsable", msg)
            continue
        if not isinstance(obj, dict):
            yield RawRow(sf.rel, n, None, "not_an_object", f"{sf.rel}:{n}: a JSON {type(obj).__name__}, expected an object {{...}}.")
            continue
        yield RawRow(sf.rel, n, line.strip())


def read_json(sf: SourceFile) -> Iterator[RawRow]:
    try:
        text = sf.path.read_text(encoding=sf.encoding if sf.encoding != "utf-8" else "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{sf.rel}: byte {exc.start} is not valid {_enc_name(sf)} ({exc.reason}); a .json file is read "
                        "whole, so convert it to UTF-8 (or export it as JSONL, where a bad line is quarantined alone).") from None
    if not text.strip():
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{sf.rel}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}). A .json source must be "
            "one array of records; for one record per line name the file .jsonl."
        ) from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    for n, obj in enumerate(data, 1):
        if not isinstance(obj, dict):
            yield RawRow(sf.rel, n, None, "not_an_object", f"{sf.rel}: record {n} is a JSON {type(obj).__name__}, expected an object.")
        else:
            yield RawRow(sf.rel, n, json.dumps(obj, ensure_ascii=False))


def read_csv(sf: SourceFile) -> Iterator[RawRow]:
    delimiter = "\t" if sf.format == "tsv" else ","
    if csv.field_size_limit() < CSV_FIELD_LIMIT:  # the default (128 KiB) would reject big cells
        csv.field_size_limit(CSV_FIELD_LIMIT)
    lines = _csv_lines(sf)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise DataError(f"{sf.rel}: cannot read the header row ({exc}).") from None
    header = [h.strip() for h in header]
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(sf.rel, reader.line_num, None, "unparsable", f"{sf.rel}:{reader.line_num}: {exc}.")
            continue
        n = reader.line_num
        if lines.bad_line:
            lines.bad_line = 0
            yield RawRow(sf.rel, n, None, "bad_encoding", f"{sf.rel}:{n}: bytes not valid {_enc_name(sf)} text (or a NUL byte); fix or re-export the row.")
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            msg = (
                f"{sf.rel}:{n}: row has {len(row)} fields but the header has {len(header)} "
                f"({', '.join(header)}). Quote fields that contain '{delimiter}' or fix the row."
            )
            yield RawRow(sf.rel, n, None, "ragged_row", msg)
            continue
        yield RawRow(sf.rel, n, json.dumps(dict(zip(header, row)), ensure_ascii=False))


class _csv_lines:
    """Decoded lines for csv.reader; a line that fails to decode becomes '' and is flagged."""

    def __init__(self, sf: SourceFile):
        self._it = _text_lines(sf)
        self.bad_line = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        n, line = next(self._it)
        if line is None:
            self.bad_line = n
            return "\n"
        return line


def read_parquet(sf: SourceFile) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(sf.path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"{sf.rel}: not a readable Parquet file ({exc}).") from None
    n = 0
    for batch in pf.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            n += 1
            yield RawRow(sf.rel, n, json.dumps(row, ensure_ascii=False, default=str))


def read_text_file(sf: SourceFile) -> Iterator[RawRow]:
    enc = "utf-8-sig" if sf.encoding == "utf-8" else sf.encoding
    try:
        text = sf.path.read_text(encoding=enc)
    except UnicodeDecodeError as exc:
        yield RawRow(sf.rel, 1, None, "bad_encoding", f"{sf.rel}: not valid {enc} ({exc.reason}); convert it to UTF-8.")
        return
    if text.strip():
        yield RawRow(sf.rel, 1, json.dumps({"text": text}, ensure_ascii=False))


READERS: dict[str, Callable[[SourceFile], Iterator[RawRow]]] = {
    "jsonl": read_jsonl,
    "json": read_json,
    "csv": read_csv,
    "tsv": read_csv,
    "parquet": read_parquet,
    "text_file": read_text_file,
}


def iter_rows(files: list[SourceFile]) -> Iterator[tuple[SourceFile, RawRow]]:
    """All raw rows of all files, in spec order then file order (deterministic)."""
    for sf in files:
        for row in READERS[sf.format](sf):
            yield sf, row


def sniff(path: Path, limit: int = 5) -> list[dict]:
    """The first few JSON records of a file (used by ``scan-pii`` and tests)."""
    sf = SourceFile(path, str(path), EXTENSIONS.get(path.suffix.lower(), "jsonl"))
    detect_encoding(sf)
    out = []
    for row in READERS[sf.format](sf):
        if row.raw is not None:
            out.append(json.loads(row.raw))
        if len(out) >= limit:
            break
    return out


__all__ = ["RawRow", "SourceFile", "detect_encoding", "expand_sources", "iter_rows"]
