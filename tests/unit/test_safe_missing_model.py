"""Issue 11, item 8: a model folder deleted by hand is reported as missing, with the path and how to recover."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from test_registry_helpers import fake_dataset, fake_run, make_spec, raw_spec
from typer.testing import CliRunner

from tailorlm.cli.main import app
from tailorlm.registry import register_model
from tailorlm.workspace import Workspace

runner = CliRunner()


@pytest.fixture()
def gone(tmp_path):
    """A project whose version 1 folder was deleted by hand (version 2 intact)."""
    spec = make_spec(tmp_path, None)
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(raw_spec()))
    ws = Workspace.for_spec(spec)
    ds = fake_dataset(spec, ws)
    v1 = register_model(spec, ws, ds, fake_run(ws, "run-1"), None)
    register_model(spec, ws, ds, fake_run(ws, "run-2", b"weights-v2"), None)
    shutil.rmtree(v1.path)
    return tmp_path, v1


def _run(root, *args):
    return runner.invoke(app, [*args, "--spec", str(root / "tailor.yaml")])


def test_list_marks_the_version_missing(gone):
    root, v1 = gone
    listed = {v["ref"]: v["files"] for v in json.loads(_run(root, "models", "list", "--json").stdout)}
    assert listed == {"support-bot@1": "missing", "support-bot@2": "present"}
    table = _run(root, "models", "list")
    assert "files missing" in table.output


def test_show_and_verify_say_missing_with_path_and_recovery(gone):
    root, v1 = gone
    shown = _run(root, "models", "show", "1")
    text = shown.output.replace("\n", " ")
    assert "files missing" in text and v1.path in shown.output.replace("\n", "")
    assert "models delete support-bot@1" in text
    verify = _run(root, "models", "show", "1", "--verify")
    assert verify.exit_code == 1 and "FILES MISSING" in verify.output and "CHANGED" not in verify.output
    as_json = json.loads(_run(root, "models", "show", "1", "--verify", "--json").stdout)
    assert as_json["files"] == "missing" and as_json["verified"]["ok"] is False


def test_show_card_of_a_missing_version_fails_with_the_reason(gone):
    root, _ = gone
    res = _run(root, "models", "show", "1", "--card")
    assert res.exit_code == 1 and "files missing" in res.output
    ok = _run(root, "models", "show", "2", "--card")
    assert ok.exit_code == 0 and "support-bot" in ok.output
