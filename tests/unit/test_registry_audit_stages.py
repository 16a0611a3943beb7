"""Every stage entry point leaves its audit record: `data prepare` on its own, and a failed training."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from tailorlm.cli.main import app

runner = CliRunner()


def _project(tmp_path, tiny_model_dir):
    rows = [{"id": f"r{i}", "text": f"request {i}: please {w} my card at the {p}", "intent": w}
            for i, (w, p) in enumerate((w, p) for w in ("block", "unblock", "replace")
                                       for p in ("bank", "shop", "airport", "station", "market", "office"))]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    spec = {"project": "aud", "model": {"base": str(tiny_model_dir)},
            "data": {"sources": [{"path": "d.jsonl"}], "fields": {"input": "text", "label": "intent"},
                     "dedup": {"near": False}, "pii": {"enabled": False}}}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "tailor.yaml"


def _actions(spec_path) -> list[str]:
    res = runner.invoke(app, ["audit", "log", "--limit", "0", "--json", "--spec", str(spec_path)])
    assert res.exit_code == 0, res.output
    return [r["action"] for r in json.loads(res.stdout)]


def test_data_prepare_command_is_audited(tmp_path, tiny_model_dir):
    spec = _project(tmp_path, tiny_model_dir)
    res = runner.invoke(app, ["data", "prepare", "--spec", str(spec), "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    version = json.loads(res.stdout)["version"]
    assert _actions(spec) == ["data.prepare"]
    res = runner.invoke(app, ["audit", "log", "--json", "--spec", str(spec)])
    assert json.loads(res.stdout)[0]["subject"] == f"dataset:aud@{version}"


def test_failed_training_closes_its_start_record(tmp_path, tiny_model_dir, monkeypatch):
    import tailorlm.train as train_pkg
    from tailorlm.pipeline import Context, stage_data, stage_train
    from tailorlm.spec import load_spec
    from tailorlm.workspace import Workspace

    spec = load_spec(_project(tmp_path, tiny_model_dir))
    ctx = Context(spec=spec, ws=Workspace.for_spec(spec), progress=False)
    ds = stage_data(ctx)

    def diverge(*args, **kwargs):
        raise RuntimeError("loss is NaN at step 3")

    monkeypatch.setattr(train_pkg, "run_training", diverge)
    with pytest.raises(RuntimeError):
        stage_train(ctx, ds)
    assert _actions(tmp_path / "tailor.yaml") == ["train.failed", "train.start", "data.prepare"]  # newest first
    res = runner.invoke(app, ["audit", "log", "--action", "train.failed", "--json", "--spec", str(tmp_path / "tailor.yaml")])
    assert "loss is NaN at step 3" in json.loads(res.stdout)[0]["details"]["error"]
    verify = runner.invoke(app, ["audit", "verify", "--spec", str(tmp_path / "tailor.yaml")])
    assert verify.exit_code == 0, verify.output


def test_changing_only_num_proc_does_not_rerun_the_data_stage(tmp_path, tiny_model_dir):
    from tailorlm.pipeline import Context, stage_data
    from tailorlm.spec import load_spec
    from tailorlm.workspace import Workspace

    path = _project(tmp_path, tiny_model_dir)
    first = Context(spec=(spec := load_spec(path)), ws=Workspace.for_spec(spec), progress=False)
    ds = stage_data(first)
    raw = yaml.safe_load(path.read_text())
    raw["data"].update(num_proc=2, batch_size=64)  # how fast, not what: same inputs, same version
    path.write_text(yaml.safe_dump(raw))
    again = Context(spec=(spec := load_spec(path)), ws=Workspace.for_spec(spec), progress=False)
    assert stage_data(again).version == ds.version
    assert again.skipped == ["data"] and again.ran == []
