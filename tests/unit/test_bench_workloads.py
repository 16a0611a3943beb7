"""The frozen bench workloads (bench/workloads/): hashes, sizes, labels, no test text in train.

The data files were committed with their hashes before any model was tuned on them; these tests
fail when a byte changes, when a split shrinks below what the benchmark issues require, or when a
test record appears verbatim in training. The generators are stdlib-only and seeded, so they must
reproduce the committed bytes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

WORKLOADS = Path(__file__).resolve().parents[2] / "bench" / "workloads"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _hashes() -> dict[str, str]:
    """``relative path -> sha256`` from HASHES.sha256 (``sha256sum`` format)."""
    out = {}
    for line in (WORKLOADS / "HASHES.sha256").read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        out[name.strip()] = digest
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_data_file_is_hashed_and_matches():
    hashes = _hashes()
    on_disk = {p.relative_to(WORKLOADS).as_posix() for p in WORKLOADS.glob("*/*.jsonl")}
    assert set(hashes) == on_disk
    for name, digest in hashes.items():
        assert _sha256(WORKLOADS / name) == digest, f"{name} changed after its hash was frozen"


def test_intents_sizes_and_label_count():
    train, test = _rows(WORKLOADS / "intents" / "train.jsonl"), _rows(WORKLOADS / "intents" / "test.jsonl")
    assert len(train) >= 5000 and len(test) >= 1500
    labels = {r["label"] for r in train}
    assert len(labels) >= 60
    assert {r["label"] for r in test} == labels  # every label is scored
    assert all(set(r) == {"id", "text", "label"} and r["text"].strip() for r in train + test)


def test_support_answers_sizes_and_layout():
    train = _rows(WORKLOADS / "support_answers" / "train.jsonl")
    test = _rows(WORKLOADS / "support_answers" / "test.jsonl")
    assert len(train) >= 2000 and len(test) >= 300
    for r in train + test:
        assert {"id", "prompt", "completion"} <= set(r)
        assert 60 <= len(r["completion"].split()) <= 250


@pytest.mark.parametrize("workload,field", [("intents", "text"), ("support_answers", "prompt")])
def test_no_test_text_appears_verbatim_in_train(workload, field):
    train = {r[field].strip().lower() for r in _rows(WORKLOADS / workload / "train.jsonl")}
    leaked = [r["id"] for r in _rows(WORKLOADS / workload / "test.jsonl") if r[field].strip().lower() in train]
    assert leaked == []


@pytest.mark.parametrize("workload", ["intents", "support_answers"])
def test_generator_reproduces_the_committed_bytes(workload, tmp_path):
    script = WORKLOADS / workload / "generate.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True, capture_output=True)
    hashes = _hashes()
    for split in ("train", "test"):
        assert _sha256(tmp_path / f"{split}.jsonl") == hashes[f"{workload}/{split}.jsonl"]
