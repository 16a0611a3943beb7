"""Issue 11, item 6: when every record fails, the error itself says why (counts, file:line) and the log is written."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_data_prepare import messages, project
from typer.testing import CliRunner

from tailorlm.cli.main import app
from tailorlm.data.errors import DataError
from tailorlm.data.prepare import prepare_dataset


def _parquet_project(tmp_path, fields: dict):
    import yaml

    from tailorlm.spec import load_spec
    from tailorlm.workspace import Workspace

    pd.DataFrame({"body": [m["text"] for m in messages(30)], "topic": [m["intent"] for m in messages(30)]}
                 ).to_parquet(tmp_path / "msgs.parquet")
    raw = {"project": "t", "objective": {"task": "classification"},
           "data": {"sources": [{"path": "msgs.parquet"}], "fields": fields, "pii": {"enabled": False}}}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(raw))
    spec = load_spec(tmp_path / "tailor.yaml")
    return spec, Workspace.for_spec(spec)


@pytest.mark.parametrize("fields", [
    {"input": "text", "label": "intent"},   # parquet with the wrong columns
    {"input": "body", "label": "intent"},   # fields.label names a missing column
])
def test_all_records_failing_names_the_reasons_and_writes_the_log(tmp_path, tokenizer, fields):
    spec, ws = _parquet_project(tmp_path, fields)
    with pytest.raises(DataError) as err:
        prepare_dataset(spec, ws, tokenizer=tokenizer, progress=False)
    msg = str(err.value)
    assert "only 0 valid record(s)" in msg and "x30" in msg and "msgs.parquet:1" in msg
    log = ws.datasets / "t" / "rejected" / "quarantine.jsonl"
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(rows) == 30 and {r["source"] for r in rows} == {"msgs.parquet"}
    assert str(log) in msg


def test_run_on_all_bad_data_prints_the_reasons_without_a_traceback(tmp_path, tiny_model_dir):
    lines = [json.dumps({"id": f"m{i}", "text": "hello there"}) for i in range(20)]  # no label on any line
    spec, ws = project(tmp_path, lines, {"pii": {"enabled": False}})
    raw = (tmp_path / "tailor.yaml").read_text() + f"model:\n  base: {tiny_model_dir}\n"
    (tmp_path / "tailor.yaml").write_text(raw)
    res = CliRunner().invoke(app, ["run", "--spec", str(tmp_path / "tailor.yaml")])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    out = res.output.replace("\n", " ")
    assert "x20" in out and "msgs.jsonl:1" in out and "quarantine.jsonl" in out
