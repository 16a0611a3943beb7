"""Optional export of model versions (their run, metrics and artifact) to an MLflow tracking server.

MLflow is heavy and optional (``pip install 'tailorlm[mlflow]'``): it is imported only here, only
when an export is asked for. One MLflow run per model version, in an experiment named after the
model, carries:

* params: method, base model, dataset version, run id, code version, training hyperparameters;
* metrics: training metrics as ``train.<name>`` (the final values, and each step's from the run's
  ``metrics.jsonl``, so MLflow draws the loss curves), evaluation metrics as ``<system>.<metric>``;
* tags: lineage hashes, creator, gate verdict (``tailorlm.*``);
* artifacts: the model folder under ``model/`` (adapter, ``MODEL_CARD.md``, ``lineage.json``),

and the version is registered in MLflow's model registry under the same name.
"""

from __future__ import annotations

from typing import Any

from ..results import ModelVersion
from . import audit
from .errors import RegistryError


def _mlflow():
    import os

    # MLflow 3 sends usage telemetry to its vendor by default; data (and metadata) never leave here.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    try:
        import mlflow
    except ImportError:
        raise RegistryError(
            "MLflow export needs the mlflow package: pip install 'tailorlm[mlflow]' (or mlflow-skinny)"
        ) from None
    return mlflow


def _numbers(d: dict[str, Any], prefix: str) -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in (d or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def mlflow_payload(mv: ModelVersion) -> dict[str, dict[str, Any]]:
    """The params, metrics and tags sent to MLflow for one version (pure; unit-testable without MLflow)."""
    lin = mv.lineage
    run = lin.get("run", {})
    train = (lin.get("spec") or {}).get("train", {})
    params = {
        "method": run.get("method"), "base_model": lin.get("base_model", {}).get("ref"),
        "dataset_version": mv.dataset_version, "run_id": mv.run_id, "code_version": lin.get("code_version"),
        **{f"train.{k}": v for k, v in train.items() if not isinstance(v, (dict, list))},
    }
    metrics = _numbers(run.get("metrics", {}), "train.")
    for system, values in ((mv.evaluation or {}).get("systems") or {}).items():
        metrics.update(_numbers(values, f"{system}."))
    tags = {
        "tailorlm.model_version": mv.ref, "tailorlm.created_by": mv.created_by,
        "tailorlm.artifact_sha256": lin.get("artifact", {}).get("sha256"),
        "tailorlm.base_weight_hash": lin.get("base_model", {}).get("weight_hash"),
        "tailorlm.dataset_manifest_sha256": lin.get("dataset", {}).get("manifest_sha256"),
        "tailorlm.spec_sha256": lin.get("spec_sha256"),
        "tailorlm.passed": str((mv.evaluation or {}).get("passed")),
    }
    return {"params": {k: v for k, v in params.items() if v is not None},
            "metrics": metrics, "tags": {k: str(v) for k, v in tags.items() if v is not None}}


def step_history(run_dir) -> list[tuple[int, dict[str, float]]]:
    """Per-step training metrics from the run's ``metrics.jsonl`` (loss, eval_loss, lr, ...), in order."""
    import json
    from pathlib import Path

    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else {}
        if isinstance(row.get("step"), int):
            values = _numbers({k: v for k, v in row.items() if k != "step"}, "train.")
            if values:
                rows.append((row["step"], values))
    return rows


def _register(mlflow, mv: ModelVersion, source: str, run_id: str, tags: dict[str, str]) -> str:
    """Add the logged folder as a version of registered model ``mv.name`` (created on first use).

    Uses the client API with an explicit ``source``: the folder is a PEFT adapter, not an MLflow
    "logged model" flavour, so ``mlflow.register_model("runs:/...")`` would not find it.
    """
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(mv.name)
    except MlflowException:
        client.create_registered_model(mv.name, description=f"tailorlm model {mv.name}")
    return client.create_model_version(mv.name, source=source, run_id=run_id, tags=tags).version


def _log(mlflow, ws, mv: ModelVersion, tracking_uri: str, experiment: str | None, register: bool):
    payload = mlflow_payload(mv)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment or mv.name)
    with mlflow.start_run(run_name=mv.ref) as active:
        mlflow.log_params(payload["params"])
        mlflow.log_metrics(payload["metrics"])
        for step, values in step_history(ws.runs / mv.run_id):  # the loss curves, step by step
            mlflow.log_metrics(values, step=step)
        mlflow.set_tags(payload["tags"])
        mlflow.log_artifacts(mv.path, artifact_path="model")
        run_id, artifact_uri = active.info.run_id, active.info.artifact_uri
    registered = _register(mlflow, mv, f"{artifact_uri}/model", run_id, payload["tags"]) if register else None
    return run_id, registered


def export_to_mlflow(ws, mv: ModelVersion, tracking_uri: str, *, experiment: str | None = None,
                     register: bool = True, actor: str | None = None) -> dict[str, Any]:
    """Log ``mv`` as an MLflow run (and registered model version) at ``tracking_uri``; audits ``export``.

    Returns:
        ``{"tracking_uri", "experiment", "mlflow_run_id", "registered_version"}``.
    """
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    try:
        run_id, registered = _log(mlflow, ws, mv, tracking_uri, experiment, register)
    except MlflowException as exc:
        first = str(exc).strip().split(". ")[0]
        raise RegistryError(
            f"MLflow refused the export to {tracking_uri}: {first}. Use a database-backed tracking URI such "
            "as sqlite:///mlflow.db, or an http(s):// tracking server.") from None
    result = {"tracking_uri": tracking_uri, "experiment": experiment or mv.name,
              "mlflow_run_id": run_id, "registered_version": registered}
    audit.record(ws, "export", mv.ref, {"to": "mlflow", **result}, actor)
    return result
