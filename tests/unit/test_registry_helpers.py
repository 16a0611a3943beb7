"""Shared fixtures for the registry and audit tests: a project with fake stage outputs.

Every store-backed test runs on SQLite, and on PostgreSQL too when ``TAILORLM_TEST_PG_URL`` is set
(``scripts/start_test_postgres.sh`` starts a local server and prints the URL); each PostgreSQL test
gets its own schema. Nothing here trains a model: the "adapter" is a folder of small files.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from tailorlm.artifacts import sha256_file
from tailorlm.results import DatasetVersion, EvalResult, TrainRun
from tailorlm.spec import parse_spec
from tailorlm.workspace import Workspace

PG_URL = os.environ.get("TAILORLM_TEST_PG_URL")
SOURCE = "data/messages.jsonl"
MESSAGES = [
    {"id": "m1", "text": "I lost my card", "intent": "card_lost"},
    {"id": "m2", "text": "What is my balance?", "intent": "balance"},
    {"id": "m3", "text": "Please close my account", "intent": "close_account"},
]


def raw_spec(criteria: list[str] | None = None) -> dict:
    return {
        "project": "support-bot",
        "objective": {"task": "classification", "labels": ["balance", "card_lost", "close_account"],
                      "criteria": ["accuracy >= 0.8", "p95_latency_ms <= 1500"] if criteria is None else criteria},
        "data": {"sources": [{"path": SOURCE}], "fields": {"input": "text", "label": "intent", "id": "id"}},
    }


def make_spec(root: Path, store_url: str | None, criteria: list[str] | None = None):
    """A parsed spec rooted at ``root`` (with its source file written) using ``store_url``."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / SOURCE).write_text("".join(json.dumps(m) + "\n" for m in MESSAGES))
    spec = parse_spec(raw_spec(criteria), root)
    spec.workspace.store_url = store_url
    return spec


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """``None`` (the default SQLite store in .tailor/) or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    if not PG_URL:
        pytest.skip("PostgreSQL variant: set TAILORLM_TEST_PG_URL (see scripts/start_test_postgres.sh)")
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield _pg_schema_url(schema)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture()
def project(tmp_path, store_url):
    """(spec, ws) for a fresh project in ``tmp_path``."""
    spec = make_spec(tmp_path, store_url)
    return spec, Workspace.for_spec(spec)


def fake_dataset(spec, ws, version: str = "ds0001") -> DatasetVersion:
    """A dataset version folder (manifest + card) and the rows the data stage writes to the store."""
    from sqlalchemy import text

    path = ws.datasets / spec.project / version
    path.mkdir(parents=True, exist_ok=True)
    manifest = {"sources": [{"path": SOURCE, "sha256": sha256_file(spec.root / SOURCE)}]}
    (path / "manifest.json").write_text(json.dumps(manifest))
    (path / "card.md").write_text("# Dataset card\n\n3 customer messages, 3 intents.\n")
    with ws.store.engine.begin() as conn:
        conn.execute(text("INSERT INTO datasets (name, version, path, manifest, created_at) VALUES (:n,:v,:p,:m,0)"),
                     {"n": spec.project, "v": version, "p": str(path), "m": json.dumps(manifest)})
        for i, m in enumerate(MESSAGES, start=1):
            conn.execute(text("INSERT INTO record_lineage (dataset_version, record_id, source, line, split) "
                              "VALUES (:dv, :r, :s, :l, :sp)"),
                         {"dv": version, "r": m["id"], "s": SOURCE, "l": i, "sp": "train" if i < 3 else "test"})
    return DatasetVersion(name=spec.project, version=version, path=str(path), labels=["balance", "card_lost", "close_account"],
                          counts={"kept": 3, "splits": {"train": 2, "test": 1}, "pii": {"PERSON": 1}})


def fake_run(ws, run_id: str = "run-1", payload: bytes = b"weights-v1") -> TrainRun:
    """A finished run whose artifact is a folder of small files shaped like a PEFT adapter."""
    run_dir = ws.runs / run_id
    adapter = run_dir / "adapter"
    adapter.mkdir(parents=True, exist_ok=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (adapter / "adapter_model.safetensors").write_bytes(payload)
    (adapter / "provenance.json").write_text(json.dumps({"run_id": run_id, "base": "tiny"}))
    return TrainRun(run_id=run_id, path=str(run_dir), model_path=str(adapter), method="lora", base_ref="tiny-llama",
                    base_path="/models/tiny", base_weight_hash="b" * 64, dataset_version="ds0001",
                    metrics={"train_loss": 1.25, "steps": 10})


def fake_eval(accuracy: float = 0.9, latency: float = 300.0, criteria=(("accuracy", ">=", 0.8), ("p95_latency_ms", "<=", 1500.0))) -> EvalResult:
    """An evaluation whose gates are computed from ``criteria`` like the evaluation stage does."""
    import operator

    ops = {">=": operator.ge, "<=": operator.le}
    systems = {"base": {"accuracy": 0.2, "p95_latency_ms": 250.0},
               "fine_tuned": {"accuracy": accuracy, "p95_latency_ms": latency}}
    gates = [{"criterion": f"{m} {op} {t:g}", "metric": m, "op": op, "threshold": t,
              "value": systems["fine_tuned"][m], "passed": ops[op](systems["fine_tuned"][m], t)} for m, op, t in criteria]
    return EvalResult(eval_id="eval-1", path="/reports/eval-1", systems=systems, gates={"fine_tuned": gates},
                      passed=all(g["passed"] for g in gates), report_html="/reports/eval-1/report.html",
                      report_json="/reports/eval-1/report.json")


def test_fake_inputs_are_consistent(project):
    spec, ws = project
    ds = fake_dataset(spec, ws)
    assert json.loads((Path(ds.path) / "manifest.json").read_text())["sources"][0]["path"] == SOURCE
    assert fake_eval(accuracy=0.5).passed is False
    assert fake_eval(accuracy=0.95).passed is True
