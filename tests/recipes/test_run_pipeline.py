"""The real CLI end to end on the tiny random model: init → run → run again (all skipped) → --force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tailorlm.cli.main import app

runner = CliRunner()


def make_project(tmp_path: Path, base: str, messages: int, edit) -> Path:
    project = tmp_path / "proj"
    res = runner.invoke(app, ["init", str(project), "--template", "support", "--messages", str(messages)])
    assert res.exit_code == 0, res.output
    spec_path = project / "tailor.yaml"
    raw = yaml.safe_load(spec_path.read_text())
    raw["model"]["base"] = base
    edit(raw)
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return spec_path


def run_json(spec_path: Path, *extra: str) -> dict:
    res = runner.invoke(app, ["run", "--spec", str(spec_path), "--json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout[res.stdout.index("{"):])


def tiny_settings(raw: dict) -> None:
    raw["train"].update({"max_steps": 4, "batch_size": 8, "eval_every": 2, "save_every": 2})
    raw["eval"].update({"limit": 12, "batch_size": 8, "max_new_tokens": 4})


def test_run_end_to_end_then_skip_then_force(tmp_path, tiny_model_dir):
    spec_path = make_project(tmp_path, str(tiny_model_dir), 300, tiny_settings)

    first = run_json(spec_path)
    assert first["stages"]["ran"] == ["data", "train", "eval", "register"]
    assert set(first["metrics"]) == {"base", "few_shot", "rag", "fine_tuned"}
    for system in first["metrics"].values():
        assert 0.0 <= system["accuracy"] <= 1.0
    gates = first["criteria"]["fine_tuned"]
    assert {g["criterion"] for g in gates} >= {"accuracy >= 0.85"}
    assert all(isinstance(g["passed"], bool) for g in gates)
    assert first["model_version"] == "northwind-support@1"
    assert Path(first["report"]).exists()

    second = run_json(spec_path)
    assert second["stages"]["ran"] == []
    assert second["stages"]["skipped"] == ["data", "train", "eval", "register"]
    assert second["model_version"] == "northwind-support@1"

    third = run_json(spec_path, "--force", "eval")
    assert third["stages"]["ran"] == ["eval", "register"]
    assert third["stages"]["skipped"] == ["data", "train"]
    assert third["model_version"] == "northwind-support@2"


def test_changed_training_setting_reruns_train_but_not_data(tmp_path, tiny_model_dir):
    spec_path = make_project(tmp_path, str(tiny_model_dir), 200, tiny_settings)
    run_json(spec_path)
    raw = yaml.safe_load(spec_path.read_text())
    raw["train"]["learning_rate"] = 0.001
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    again = run_json(spec_path)
    assert again["stages"]["skipped"] == ["data"]
    assert again["stages"]["ran"] == ["train", "eval", "register"]


def test_run_rejects_unknown_force_stage(tmp_path, tiny_model_dir):
    spec_path = make_project(tmp_path, str(tiny_model_dir), 200, tiny_settings)
    res = runner.invoke(app, ["run", "--spec", str(spec_path), "--force", "trian"])
    assert res.exit_code == 2
    assert "unknown stage" in res.output
