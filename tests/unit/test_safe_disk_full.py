"""Issue 11 docs promise: a full disk or Ctrl-C mid-write keeps the previous version and leaves no partial one."""

from __future__ import annotations

import errno
import json

import pytest
from test_data_prepare import messages, project
from typer.testing import CliRunner

from tailorlm.cli.main import app

runner = CliRunner()


def _prepare(spec_path):
    return runner.invoke(app, ["data", "prepare", "--spec", str(spec_path), "--json", "--no-progress"])


@pytest.mark.parametrize("failure, code, words", [
    (OSError(errno.ENOSPC, "No space left on device"), 2, "no space left"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_a_write_failing_midway_keeps_the_previous_version(tmp_path, tiny_model_dir, monkeypatch, failure, code, words):
    spec, ws = project(tmp_path, [json.dumps(r) for r in messages(40)], {"pii": {"enabled": False}})
    spec_path = tmp_path / "tailor.yaml"
    spec_path.write_text(spec_path.read_text() + f"model:\n  base: {tiny_model_dir}\n")
    first = _prepare(spec_path)
    assert first.exit_code == 0, first.output
    v1 = json.loads(first.stdout)["version"]
    (tmp_path / "msgs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in messages(50, seed=1)))

    def broken(path, text):
        raise failure

    monkeypatch.setattr("tailorlm.data.write.atomic_write_text", broken)
    res = _prepare(spec_path)
    assert res.exit_code == code and words in res.output and "Traceback" not in res.output
    versions = ws.datasets / "t"
    assert sorted(p.name for p in versions.iterdir() if p.name not in ("rejected",)) == [v1]  # no partial, no leftovers
    monkeypatch.undo()
    again = _prepare(spec_path)  # the lock was released and the project is usable
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["version"] != v1
