"""MLflow export: the payload (always) and a real export to a local SQLite tracking store (when mlflow is installed)."""

from __future__ import annotations

import pytest
from test_registry_helpers import fake_dataset, fake_eval, fake_run, make_spec

from tailorlm.registry import RegistryError, audit, register_model
from tailorlm.registry.mlflow_export import export_to_mlflow, mlflow_payload
from tailorlm.workspace import Workspace


@pytest.fixture()
def version(tmp_path):
    spec = make_spec(tmp_path / "proj", None)
    ws = Workspace.for_spec(spec)
    return ws, register_model(spec, ws, fake_dataset(spec, ws), fake_run(ws), fake_eval(accuracy=0.91))


def test_payload_carries_metrics_params_and_lineage_tags(version):
    _, mv = version
    p = mlflow_payload(mv)
    assert p["metrics"]["fine_tuned.accuracy"] == 0.91 and p["metrics"]["base.accuracy"] == 0.2
    assert p["metrics"]["train.train_loss"] == 1.25
    assert p["params"]["method"] == "lora" and p["params"]["dataset_version"] == "ds0001"
    assert p["tags"]["tailorlm.model_version"] == "support-bot@1"
    assert p["tags"]["tailorlm.artifact_sha256"] == mv.lineage["artifact"]["sha256"]


def test_missing_mlflow_gives_an_install_hint(version, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    ws, mv = version
    with pytest.raises(RegistryError, match=r"pip install 'tailorlm\[mlflow\]'"):
        export_to_mlflow(ws, mv, "sqlite:///x.db")


def test_export_to_local_tracking_store(version, tmp_path, monkeypatch):
    for var in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"):
        monkeypatch.delenv(var, raising=False)
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("alembic")  # MLflow's SQLite tracking store needs it
    monkeypatch.chdir(tmp_path)  # a local store puts artifacts in ./mlruns
    ws, mv = version
    (ws.runs / mv.run_id / "metrics.jsonl").write_text(
        '{"step": 1, "loss": 2.5, "lr": 0.001}\n{"step": 2, "loss": 1.5, "lr": 0.001, "eval_loss": 1.75}\n')
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = export_to_mlflow(ws, mv, uri)
    client = mlflow.MlflowClient(uri)
    run = client.get_run(result["mlflow_run_id"])
    assert run.data.metrics["fine_tuned.accuracy"] == 0.91
    assert run.data.tags["tailorlm.model_version"] == "support-bot@1"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "train.loss")] == [(1, 2.5), (2, 1.5)]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train.eval_loss")] == [2]
    names = {f.path for f in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/MODEL_CARD.md", "model/lineage.json", "model/adapter_model.safetensors"} <= names
    assert client.get_model_version("support-bot", result["registered_version"]).run_id == run.info.run_id
    assert audit.rows(ws, action="export")[-1]["details"]["to"] == "mlflow"
    import os

    # No usage reports to MLflow's vendor (its telemetry is on by default outside CI and tests).
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true" and os.environ["DO_NOT_TRACK"] == "true"
    assert (tmp_path / "mlruns").is_dir()
