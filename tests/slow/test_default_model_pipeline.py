"""The whole pipeline with the real default model (SmolLM2-135M-Instruct) on a small slice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tailorlm.cli.main import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_default_model_learns_the_task_and_is_traceable(tmp_path):
    project = tmp_path / "proj"
    assert runner.invoke(app, ["init", str(project), "--messages", "700"]).exit_code == 0
    spec_path = project / "tailor.yaml"
    raw = yaml.safe_load(spec_path.read_text())
    raw["train"].update({"max_steps": 100, "eval_every": 50, "save_every": 50})  # the demo's budget
    raw["eval"].update({"systems": ["base", "fine_tuned"], "limit": 64})
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))

    res = runner.invoke(app, ["run", "--spec", str(spec_path), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    base = summary["metrics"]["base"]["accuracy"]
    tuned = summary["metrics"]["fine_tuned"]["accuracy"]
    # 100 steps (the classifier head that auto picks, LoRA) on ~450 messages: the model must learn the
    # label set far beyond zero-shot (base: label-constrained scoring).
    assert tuned >= base + 0.3, (base, tuned)

    # Record-level lineage: the source file leads to the model version just registered.
    res = runner.invoke(app, ["lineage", str(project / "data" / "messages.jsonl"), "--spec", str(spec_path), "--json"])
    assert res.exit_code == 0, res.output
    assert summary["model_version"] in res.stdout
