"""Issue 11, item 3: `kill -9` during `data prepare` leaves no raw, unscrubbed PII anywhere on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from test_data_prepare import messages
from typer.testing import CliRunner

from tailorlm.cli.main import app

EMAIL = "laura.palmer@example.com"
PHONE = "+1 415 555 0199"
# Stops the data stage inside PII scrubbing, i.e. after ingest, parsing and cleaning, so whatever
# those wrote to disk is there when the process is killed.
STALL = """
import sys, time
from tailorlm.data import prepare

def stall(batch, **kwargs):
    print("scrubbing", flush=True)
    time.sleep(600)

prepare.scrub_batch = stall
from tailorlm.cli.main import app
app(["data", "prepare", "--spec", sys.argv[1], "--no-progress"])
"""


def _project(root: Path, base: Path) -> Path:
    rows = messages(40)
    rows[5]["text"] = f"Hi, I'm Laura Palmer, email {EMAIL}, phone {PHONE}. " + rows[5]["text"]
    (root / "data").mkdir(parents=True)
    (root / "data" / "msgs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = {"project": "t", "model": {"base": str(base)}, "objective": {"task": "classification"},
            "data": {"sources": [{"path": "data/msgs.jsonl"}], "fields": {"input": "text", "label": "intent", "id": "id"},
                     "pii": {"entities": ["EMAIL_ADDRESS", "PHONE_NUMBER"]}}}
    (root / "tailor.yaml").write_text(yaml.safe_dump(spec))
    return root / "tailor.yaml"


def _files_holding(needle: str, *roots: Path, skip: Path) -> list[Path]:
    found = []
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and p != skip and needle.encode() in p.read_bytes():
                found.append(p)
    return found


def test_kill_9_during_prepare_leaves_no_raw_pii(tmp_path, tiny_model_dir):
    root, tmp, cache = tmp_path / "proj", tmp_path / "tmp", tmp_path / "hf-datasets"
    tmp.mkdir()
    spec_path = _project(root, tiny_model_dir)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "TMPDIR": str(tmp),
           "HF_DATASETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", STALL, str(spec_path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "scrubbing"
        source = root / "data" / "msgs.jsonl"
        # While it is stuck in scrubbing, the only copy of the PII on disk is the user's own source file.
        assert _files_holding(EMAIL, root, tmp, cache, skip=source) == []
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The next command runs normally, removes what the killed run left and scrubs the PII.
    res = CliRunner().invoke(app, ["data", "prepare", "--spec", str(spec_path), "--no-progress"])
    assert res.exit_code == 0, res.output
    for needle in (EMAIL, PHONE):
        assert _files_holding(needle, root, tmp, cache, skip=source) == [], needle
    assert not list((root / ".tailor" / "datasets" / "t").glob(".work-*"))


def test_leftover_work_folders_of_dead_runs_are_removed(tmp_path):
    from tailorlm.data.prepare import remove_leftovers

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = tmp_path / f".work-{proc.pid}-abc"
    old_style = tmp_path / ".work-k2j3h4"  # written by an earlier version: held raw.arrow
    live = tmp_path / f".work-{os.getpid()}-xyz"
    for p in (dead, old_style, live):
        p.mkdir()
        (p / "raw.arrow").write_text(EMAIL)
    assert sorted(remove_leftovers(tmp_path)) == sorted([dead, old_style])
    assert live.exists() and not dead.exists() and not old_style.exists()
