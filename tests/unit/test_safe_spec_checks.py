"""Issue 11, item 10: spec mistakes that used to fail late are caught by `spec check`, with the line and the fix."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from tailorlm.cli.main import app
from tailorlm.spec import SpecError, load_spec

BASE = {"project": "t", "objective": {"task": "classification"},
        "data": {"sources": [{"path": "msgs.jsonl"}], "fields": {"input": "text", "label": "intent"}}}


def _write(tmp_path, raw=None, text=None):
    (tmp_path / "msgs.jsonl").write_text('{"text": "hi", "intent": "greet"}\n')
    (tmp_path / "tailor.yaml").write_text(text if text is not None else yaml.safe_dump(raw or BASE))
    return tmp_path / "tailor.yaml"


def _problem(path) -> str:
    with pytest.raises(SpecError) as err:
        load_spec(path)
    return str(err.value)


def test_split_fractions_that_leave_no_training_rows(tmp_path):
    raw = {**BASE, "data": {**BASE["data"], "split": {"validation": 0.5, "test": 0.6}}}
    msg = _problem(_write(tmp_path, raw))
    assert "data.split" in msg and "no record for training" in msg


def test_duplicate_yaml_keys_name_both_lines(tmp_path):
    text = yaml.safe_dump(BASE) + "project: other\n"
    msg = _problem(_write(tmp_path, text=text))
    assert "key 'project' is given twice" in msg and "line 1" in msg
    nested = "project: t\nobjective:\n  task: classification\n  task: generation\n" + \
        yaml.safe_dump({"data": BASE["data"]})
    assert "line 4: key 'task' is given twice (first on line 3)" in _problem(_write(tmp_path, text=nested))


def test_a_local_model_base_path_that_does_not_exist(tmp_path):
    raw = {**BASE, "model": {"base": "./models/my-llama"}}
    msg = _problem(_write(tmp_path, raw))
    assert "model.base" in msg and "my-llama does not exist" in msg
    (tmp_path / "models" / "my-llama").mkdir(parents=True)
    assert load_spec(tmp_path / "tailor.yaml").model.base == "./models/my-llama"


def test_a_source_folder_with_no_readable_file(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "scan.pdf").write_bytes(b"%PDF-1.4")
    raw = {**BASE, "data": {**BASE["data"], "sources": [{"path": "docs"}]}}
    msg = _problem(_write(tmp_path, raw))
    assert "data.sources[0].path" in msg and "holds no .txt or .md file" in msg and ".pdf" in msg


def test_spec_check_reports_them_as_a_message(tmp_path):
    raw = {**BASE, "data": {**BASE["data"], "split": {"validation": 0.5, "test": 0.5}}}
    res = CliRunner().invoke(app, ["spec", "check", "--spec", str(_write(tmp_path, raw))])
    assert res.exit_code == 2 and "no record for training" in res.output
