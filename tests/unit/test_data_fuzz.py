"""Fuzz the data stage (issue 11): randomly corrupted copies of the example data never crash it.

Fixed seed, 200 cases: each case is one file made from a slice of the support template's corpus
with 1-3 corruptions (flipped bytes, truncated lines, a line or the whole file in another
encoding, shuffled/renamed/dropped columns, NUL bytes, blank and duplicated lines), as JSONL or
CSV. The cases run through ``data prepare`` in four batches of 50 files (PII off, so it takes
seconds). Every file is either refused as a whole with a message naming it, or read with every
line accounted for; the counts reconcile (in = kept + quarantined + filtered + duplicates); no
exception other than the :class:`~tailorlm.errors.UserError` family escapes.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tailorlm.cli.main import app
from tailorlm.data.errors import DataError
from tailorlm.data.ingest import SourceFile, detect_encoding
from tailorlm.templates.support.generate import generate_corpus

SEED = 11
CASES = 200
BATCHES = 4
ROWS, _ = generate_corpus(n_messages=200, seed=SEED)
RECORDS = [r["record"] for r in ROWS if "record" in r]
COLUMNS = ["id", "text", "intent", "channel", "created_at"]


def _flip(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def _truncate(lines: list[bytes], rng: random.Random) -> list[bytes]:
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    return lines


def _latin1_line(lines: list[bytes], rng: random.Random) -> list[bytes]:
    i = rng.randrange(len(lines))
    lines[i] = lines[i].decode("utf-8", "replace").replace("e", "é", 2).encode("latin-1", "replace")
    return lines


def _extras(lines: list[bytes], rng: random.Random) -> list[bytes]:
    kind = rng.choice(["nul", "blank", "dup"])
    i = rng.randrange(len(lines))
    if kind == "nul":
        lines[i] = lines[i][:3] + b"\x00" + lines[i][3:]
    elif kind == "blank":
        lines.insert(i, b"   ")
    else:
        lines.insert(i, lines[rng.randrange(len(lines))])
    return lines


def _records(rng: random.Random) -> list[dict]:
    start = rng.randrange(len(RECORDS) - 20)
    recs = [dict(r) for r in RECORDS[start:start + rng.randint(5, 20)]]
    if rng.random() < 0.3:  # shuffled, renamed or dropped columns
        for r in recs:
            if rng.random() < 0.5:
                key = rng.choice(list(r))
                r[rng.choice([key.upper(), "txt", "label"])] = r.pop(key)
        cols = list(recs[0])
        rng.shuffle(cols)
        recs = [{k: r.get(k) for k in cols} for r in recs]
    return recs


def make_case(rng: random.Random) -> tuple[str, bytes]:
    """(suffix, file bytes) of one corrupted file."""
    recs = _records(rng)
    if rng.random() < 0.7:
        suffix, lines = "jsonl", [json.dumps(r, ensure_ascii=False).encode() for r in recs]
    else:
        suffix = "csv"
        cols = COLUMNS[:]
        rng.shuffle(cols)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows([[r.get(c, "") for c in cols] for r in recs])
        lines = [x.encode() for x in buf.getvalue().splitlines()]
    for corrupt in rng.sample([_truncate, _latin1_line, _extras, "flip", "encoding"], rng.randint(1, 3)):
        if corrupt == "flip":
            lines = _flip(b"\n".join(lines), rng).split(b"\n") or [b""]
        elif corrupt == "encoding":
            enc = rng.choice(["cp1252", "utf-16", "utf-8-sig"])
            text = b"\n".join(lines).decode("utf-8", "replace")
            return suffix, text.encode(enc, "replace") + "\n".encode(enc if enc != "utf-16" else "utf-16-le")
        else:
            lines = corrupt(lines, rng)
    return suffix, b"\n".join(lines) + b"\n"


def expected_rows(sf: SourceFile) -> int | None:
    """Records a JSONL file must yield: every line that is not blank once decoded (None for CSV)."""
    if sf.format != "jsonl" or not sf.path.stat().st_size:
        return None
    enc = "utf-8" if sf.encoding in ("utf-8", "utf-8-sig") else sf.encoding
    if enc == "utf-16":
        return None
    raw = sf.path.read_bytes()
    raw = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    return sum(1 for line in raw.split(b"\n")[:-1] + ([raw.split(b"\n")[-1]] if raw.split(b"\n")[-1] else [])
               if b"\x00" in line or line.decode(enc, "replace").strip())


def write_batch(root: Path, rng: random.Random, n: int) -> tuple[list[str], dict[str, int | None]]:
    """Write ``n`` cases; returns the sources kept in the spec and the expected rows of each."""
    sources, expected = [], {}
    (root / "data").mkdir(parents=True)
    for k in range(n):
        suffix, data = make_case(rng)
        rel = f"data/case{k:03d}.{suffix}"
        (root / rel).write_bytes(data)
        sf = SourceFile(root / rel, rel, suffix)
        try:
            detect_encoding(sf)
        except DataError as exc:  # refused as a whole: fine when the message names the file
            assert rel in str(exc), exc
            continue
        sources.append(rel)
        expected[rel] = expected_rows(sf)
    return sources, expected


@pytest.mark.parametrize("batch", range(BATCHES))
def test_corrupted_example_data_never_crashes_and_counts_reconcile(tmp_path, tiny_model_dir, batch):
    rng = random.Random(SEED * 1000 + batch)
    root = tmp_path / "proj"
    sources, expected = write_batch(root, rng, CASES // BATCHES)
    assert len(sources) >= CASES // BATCHES // 2  # most corrupted files are still readable
    spec = {"project": "fuzz", "model": {"base": str(tiny_model_dir)},
            "objective": {"task": "classification"},
            "data": {"sources": [{"path": s} for s in sources], "fields": {"input": "text", "label": "intent", "id": "id"},
                     "pii": {"enabled": False}, "min_records": 1}}
    (root / "tailor.yaml").write_text(yaml.safe_dump(spec))
    res = CliRunner().invoke(app, ["data", "prepare", "--spec", str(root / "tailor.yaml"), "--json", "--no-progress"])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    if res.exit_code != 0:  # a clean refusal (e.g. the test split would be empty) names its reason
        assert res.exit_code == 2 and "error:" in res.output
        return
    dv = json.loads(res.stdout[res.stdout.index("{"):])
    c = dv["counts"]
    assert c["records_in"] == c["kept"] + c["quarantined"] + c["filtered"] + c["duplicates"]
    manifest = json.loads((Path(dv["path"]) / "manifest.json").read_text())
    by_source = {s["path"]: s["counts"].get("records_in", 0) for s in manifest["sources"]}
    assert sum(by_source.values()) == c["records_in"]
    for rel, want in expected.items():
        if want is not None:
            assert by_source[rel] == want, (rel, (root / rel).read_bytes()[:300])
    quarantined = sum(1 for _ in open(Path(dv["path"]) / "quarantine.jsonl", encoding="utf-8"))
    assert quarantined == c["quarantined"]
    assert "**OK**" in (Path(dv["path"]) / "card.md").read_text()
