"""The CLI over the registry: models list/show/promote/alias/delete/export, lineage, audit log/export/verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from test_registry_helpers import SOURCE, fake_dataset, fake_eval, fake_run, make_spec, raw_spec, store_url  # noqa: F401
from typer.testing import CliRunner

from tailorlm.cli.main import app
from tailorlm.registry import register_model
from tailorlm.workspace import Workspace

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables at 200 columns so cells are not wrapped mid-word in assertions."""
    from tailorlm.cli import common

    monkeypatch.setattr(common.out, "width", 200)
    monkeypatch.setattr(common.console, "width", 200)


@pytest.fixture()
def cli_project(tmp_path, store_url):
    """A tailor.yaml on disk plus two registered versions: v1 fails accuracy (0.62), v2 passes."""
    spec = make_spec(tmp_path, store_url)
    raw = raw_spec()
    if store_url:
        raw["workspace"] = {"store_url": store_url}
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(raw))
    ws = Workspace.for_spec(spec)
    ds = fake_dataset(spec, ws)
    register_model(spec, ws, ds, fake_run(ws, "run-1"), fake_eval(accuracy=0.62))
    register_model(spec, ws, ds, fake_run(ws, "run-2", b"weights-v2"), fake_eval(accuracy=0.93))
    return tmp_path, ws


def _run(root: Path, *args: str):
    return runner.invoke(app, [*args, "--spec", str(root / "tailor.yaml")])


def test_list_and_show(cli_project):
    root, _ = cli_project
    res = _run(root, "models", "list", "--json")
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    assert [(v["ref"], v["passed"], v["aliases"]) for v in listed] == [
        ("support-bot@2", True, ["candidate"]), ("support-bot@1", False, [])]
    table = _run(root, "models", "list")
    assert "support-bot@2" in table.stdout and "candidate" in table.stdout
    shown = _run(root, "models", "show", "1", "--verify", "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["verified"]["ok"] is True
    assert [g["passed"] for g in data["gates"] if g["metric"] == "accuracy"] == [False]
    card = _run(root, "models", "show", "support-bot@2", "--card")
    assert "# Model card: support-bot@2" in card.stdout


def test_show_verify_detects_a_changed_artifact(cli_project):
    root, ws = cli_project
    (ws.models / "support-bot" / "2" / "adapter_model.safetensors").write_bytes(b"swapped")
    res = _run(root, "models", "show", "2", "--verify")
    assert res.exit_code == 1 and "CHANGED" in res.stdout


def test_promote_refusal_names_criterion_and_force_needs_reason(cli_project):
    root, _ = cli_project
    res = _run(root, "models", "promote", "support-bot@1", "--to", "production")
    assert res.exit_code == 1
    assert "accuracy >= 0.8" in res.output and "value 0.62" in res.output and "threshold >= 0.8" in res.output
    res = _run(root, "models", "promote", "support-bot@1", "--to", "production", "--force")
    assert res.exit_code == 1 and "--force needs --reason" in res.output
    ok = _run(root, "models", "promote", "support-bot@2", "--to", "production", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["details"]["to"] == "production"
    forced = _run(root, "models", "promote", "1", "--to", "staging", "--force", "--reason", "pilot, ticket RISK-7")
    assert forced.exit_code == 0 and "forced" in forced.stdout
    log = json.loads(_run(root, "audit", "log", "--action", "promote", "--json").stdout)
    assert [(r["action"], r["subject"], r["details"].get("forced")) for r in log] == [
        ("promote", "support-bot@1", True), ("promote", "support-bot@2", False),
        ("promote.refused", "support-bot@1", None)]


def test_alias_delete_and_lineage(cli_project):
    root, _ = cli_project
    assert _run(root, "models", "alias", "support-bot@1", "canary").exit_code == 0
    assert "production" in _run(root, "models", "alias", "2", "production").output  # gated: refused
    found = json.loads(_run(root, "lineage", SOURCE, "--json").stdout)
    assert [m["ref"] for m in found["models"]] == ["support-bot@1", "support-bot@2"]
    table = _run(root, "lineage", "m2")
    assert "support-bot@2" in table.stdout and "ds0001" in table.stdout
    res = _run(root, "models", "delete", "support-bot@1", "--reason", "bad labels")
    assert res.exit_code == 0 and "canary" in res.stdout
    assert json.loads(_run(root, "lineage", "m2", "--json").stdout)["models"][0]["deleted"] is True
    assert _run(root, "models", "show", "support-bot@canary").exit_code == 1


def test_export_adapter_folder(cli_project, tmp_path):
    root, _ = cli_project
    dest = tmp_path / "dist" / "model"
    res = _run(root, "models", "export", "support-bot@2", "--out", str(dest), "--json")
    assert res.exit_code == 0, res.output
    assert (dest / "adapter_model.safetensors").read_bytes() == b"weights-v2"
    assert (dest / "MODEL_CARD.md").exists() and (dest / "lineage.json").exists()
    row = json.loads(res.stdout)
    assert row["action"] == "export" and row["details"]["sha256"] == row["details"]["source_sha256"]
    assert _run(root, "models", "export", "2").exit_code == 2  # no destination


def test_audit_verify_names_an_edited_row(cli_project, tmp_path):
    root, ws = cli_project
    ok = _run(root, "audit", "verify", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["checked"] == 4
    with ws.store.engine.begin() as conn:
        if ws.store.dialect == "postgresql":
            conn.execute(text("DROP TRIGGER audit_log_no_update ON audit_log"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
    bad = _run(root, "audit", "verify")
    assert bad.exit_code == 1
    assert "TAMPERED" in bad.stdout and "record 3 (register support-bot@2)" in bad.stdout
    out = tmp_path / "audit.jsonl"
    assert _run(root, "audit", "export", "--out", str(out)).exit_code == 0
    assert [json.loads(x)["seq"] for x in out.read_text().splitlines()] == [1, 2, 3, 4]
    table = _run(root, "audit", "log", "--subject", "support-bot", "--since", "2000-01-01")
    assert "mallory" in table.stdout
