"""Issue 11, item 4: one bad line (a Latin-1 byte, a NUL byte) is quarantined alone; the rest of the file is kept."""

from __future__ import annotations

import json

import pytest

from tailorlm.data.errors import DataError
from tailorlm.data.ingest import SourceFile, detect_encoding, iter_rows


def _rows(path, fmt="jsonl"):
    sf = SourceFile(path, path.name, fmt)
    detect_encoding(sf)
    return sf, [r for _, r in iter_rows([sf])]


def _lines(n: int) -> list[bytes]:
    return [json.dumps({"text": f"message {i}", "intent": "balance"}).encode() for i in range(n)]


def test_a_latin1_byte_in_utf8_text_quarantines_that_line_only(tmp_path):
    lines = _lines(30)  # small file: one bad line is 3% of it
    lines[3] = '{"text": "Zürich café", "intent": "balance"}'.encode()  # valid UTF-8 with accents
    lines[11] = '{"text": "caf'.encode() + b"\xe9" + ' au lait", "intent": "balance"}'.encode()  # one Latin-1 byte
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    sf, rows = _rows(p)
    bad = [(r.line, r.code) for r in rows if r.code]
    assert bad == [(12, "bad_encoding")]
    assert "mixed.jsonl:12" in next(r.message for r in rows if r.code)
    assert len(rows) == 30 and json.loads(rows[3].raw)["text"] == "Zürich café"
    assert any("line 12" in w for w in sf.warnings)


def test_an_ascii_file_with_one_latin1_line_keeps_every_line(tmp_path):
    lines = _lines(20)
    lines[5] = '{"text": "le café est fermé", "intent": "balance"}'.encode("latin-1")
    p = tmp_path / "m.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    sf, rows = _rows(p)
    assert len(rows) == 20  # nothing lost: decoded under the detected encoding, or quarantined with its line
    assert [r.line for r in rows if r.code] in ([], [6])
    if not rows[5].code:
        assert json.loads(rows[5].raw)["text"] == "le café est fermé"


@pytest.mark.parametrize("fmt, suffix", [("jsonl", "jsonl"), ("csv", "csv")])
def test_one_nul_byte_quarantines_one_line_not_the_file(tmp_path, fmt, suffix):
    if fmt == "jsonl":
        lines = _lines(10)
        lines[4] = b'{"text": "nul \x00 here", "intent": "balance"}'
    else:
        lines = [b"text,intent"] + [f"message {i},balance".encode() for i in range(10)]
        lines[5] = b"nul \x00 here,balance"
    p = tmp_path / f"n.{suffix}"
    p.write_bytes(b"\n".join(lines) + b"\n")
    sf, rows = _rows(p, fmt)
    assert len(rows) == 10
    assert [r.line for r in rows if r.code] == [5 if fmt == "jsonl" else 6]


def test_a_file_that_is_mostly_binary_is_still_refused_with_its_name(tmp_path):
    p = tmp_path / "photo.jsonl"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(DataError, match=r"photo.jsonl: looks like a binary file \(\d+ of \d+ lines"):
        detect_encoding(SourceFile(p, p.name, "jsonl"))
