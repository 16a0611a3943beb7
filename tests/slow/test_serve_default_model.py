"""Serving a version that ``tailorlm run`` registered with the real default model: greedy answers over
the API equal ``tailorlm eval``'s predictions for the same test inputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import openai
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tailorlm.cli.main import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from serve_helpers import start_server  # noqa: E402

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_served_greedy_answers_equal_the_evaluation_predictions(tmp_path):
    from tailorlm.spec import load_spec
    from tailorlm.workspace import Workspace

    project = tmp_path / "proj"
    assert runner.invoke(app, ["init", str(project), "--messages", "300"]).exit_code == 0
    spec_path = project / "tailor.yaml"
    raw = yaml.safe_load(spec_path.read_text())
    raw["train"].update({"max_steps": 10, "eval_every": 10, "save_every": 10})
    raw["eval"].update({"systems": ["fine_tuned"], "limit": 8, "batch_size": 1})
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = runner.invoke(app, ["run", "--spec", str(spec_path), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    spec = load_spec(spec_path)
    ws = Workspace.for_spec(spec)
    preds = {}
    for f in ws.reports.glob("*/predictions.jsonl"):  # one evaluation: the fine-tuned system on 8 inputs
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            preds[rec["id"]] = rec["prediction"]
    assert len(preds) == 8
    from tailorlm.serve.keys import create_key

    key, _ = create_key(ws, "slow", "user")
    live = start_server(spec, ws)
    try:
        client = openai.OpenAI(base_url=live.base_url, api_key=key, max_retries=0)
        dataset = next((ws.datasets / spec.project).iterdir())
        # eval.limit draws a stratified sample: serve exactly the examples evaluation answered
        rows = [r for r in pd.read_parquet(dataset / "test.parquet").to_dict("records") if str(r["id"]) in preds]
        assert len(rows) == 8
        for row in rows:
            r = client.chat.completions.create(model=summary["model_version"], messages=json.loads(row["prompt"]),
                                               temperature=0)
            assert r.choices[0].message.content.strip() == preds[str(row["id"])], row["id"]
    finally:
        live.stop()
