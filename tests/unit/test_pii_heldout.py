"""The held-out PII set is frozen: its hash was committed before any recognizer was tuned."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pii"


@pytest.mark.parametrize("name", ["heldout", "heldout2"])
def test_heldout_set_matches_its_committed_hash(name):
    data = (FIXTURES / f"{name}.jsonl").read_bytes()
    expected = (FIXTURES / f"{name}.sha256").read_text().split()[0]
    assert hashlib.sha256(data).hexdigest() == expected, (
        f"{name}.jsonl changed: the held-out set must not drift (tune on tuning.jsonl instead)")


def test_heldout_offsets_match_values():
    for line in (FIXTURES / "heldout.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        for sp in rec["spans"]:
            assert rec["text"][sp["start"]:sp["end"]] == sp["value"], rec["id"]


def test_tuning_and_heldout_sets_share_no_text():
    def texts(name):
        return {json.loads(line)["text"] for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines()}

    heldout, tuning = texts("heldout.jsonl"), texts("tuning.jsonl")
    assert len(heldout) > 800 and len(tuning) > 600
    assert not heldout & tuning, sorted(heldout & tuning)[:5]
