"""Model versions: numbering (also under a two-process race), artifact copy, lineage, card, resolve, delete."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest
from test_registry_helpers import fake_dataset, fake_eval, fake_run, make_spec, project, store_url  # noqa: F401

from tailorlm.registry import RegistryError, audit, delete_version, list_versions, register_model, resolve
from tailorlm.workspace import Workspace


def test_register_copies_artifact_and_records_lineage(project):
    spec, ws = project
    ds, run = fake_dataset(spec, ws), fake_run(ws)
    mv = register_model(spec, ws, ds, run, fake_eval())

    assert (mv.name, mv.version) == ("support-bot", 1)
    folder = Path(mv.path)
    assert folder == ws.models / "support-bot" / "1"
    assert (folder / "adapter_model.safetensors").read_bytes() == b"weights-v1"
    assert (folder / "MODEL_CARD.md").exists() and (folder / "provenance.json").exists()
    lin = json.loads((folder / "lineage.json").read_text())
    assert lin["dataset"]["version"] == "ds0001"
    assert lin["dataset"]["sources"][0]["path"] == "data/messages.jsonl"
    assert len(lin["dataset"]["sources"][0]["sha256"]) == 64
    assert lin["base_model"] == {"ref": "tiny-llama", "path": "/models/tiny", "weight_hash": "b" * 64}
    assert lin["run"]["id"] == "run-1" and lin["run"]["provenance"]["run_id"] == "run-1"
    assert lin["spec"]["project"] == "support-bot" and len(lin["spec_sha256"]) == 64
    assert lin["code_version"].startswith("0.1.0")
    assert lin["created_by"] == mv.created_by == audit.current_actor()
    assert lin["artifact"]["files"] == 3
    assert mv.evaluation["gates"]["fine_tuned"][0]["passed"] is True
    # The stored row round-trips to the same version.
    assert resolve(ws, "support-bot@1") == mv


def test_register_sets_candidate_and_audits(project):
    spec, ws = project
    ds = fake_dataset(spec, ws)
    register_model(spec, ws, ds, fake_run(ws, "run-1"), fake_eval())
    mv2 = register_model(spec, ws, ds, fake_run(ws, "run-2", b"weights-v2"), fake_eval())
    assert mv2.version == 2
    assert resolve(ws, "support-bot@candidate").version == 2
    assert resolve(ws, "support-bot").version == 2
    assert resolve(ws, "1", default_name="support-bot").version == 1
    assert resolve(ws, "1").version == 1  # one model in the registry: the name is implied
    actions = [(r["action"], r["subject"]) for r in audit.rows(ws)]
    assert actions == [("register", "support-bot@1"), ("alias.set", "support-bot@candidate"),
                       ("register", "support-bot@2"), ("alias.set", "support-bot@candidate")]
    assert audit.rows(ws, action="alias")[1]["details"] == {"from": 1, "to": 2}
    assert audit.verify(ws).ok


def test_resolve_errors_name_the_problem(project):
    spec, ws = project
    register_model(spec, ws, fake_dataset(spec, ws), fake_run(ws), fake_eval())
    with pytest.raises(RegistryError, match="no version 7"):
        resolve(ws, "support-bot@7")
    with pytest.raises(RegistryError, match="no alias 'production'.*candidate"):
        resolve(ws, "support-bot@production")
    with pytest.raises(RegistryError, match="not valid"):
        resolve(ws, "a b@@")
    with pytest.raises(RegistryError, match="other-bot"):
        resolve(ws, "other-bot")


def test_missing_artifact_is_an_error_and_leaves_nothing(project):
    spec, ws = project
    run = fake_run(ws)
    run.model_path = str(Path(run.path) / "nope")
    with pytest.raises(RegistryError, match="does not exist"):
        register_model(spec, ws, fake_dataset(spec, ws), run, None)
    assert list_versions(ws) == []
    assert not (ws.models / "support-bot").exists() or not list((ws.models / "support-bot").iterdir())


def test_soft_delete_keeps_numbers_and_audits(project):
    spec, ws = project
    ds = fake_dataset(spec, ws)
    for i in (1, 2):
        register_model(spec, ws, ds, fake_run(ws, f"run-{i}"), fake_eval())
    row = delete_version(ws, "support-bot@2", reason="superseded", purge=True)
    assert row["action"] == "delete" and row["details"]["aliases_removed"] == ["candidate"]
    with pytest.raises(RegistryError, match="was deleted"):
        resolve(ws, "support-bot@2")
    assert resolve(ws, "support-bot@2", include_deleted=True).version == 2
    assert resolve(ws, "support-bot").version == 1  # latest live version
    assert [v["version"] for v in list_versions(ws)] == [1]
    assert [v["version"] for v in list_versions(ws, include_deleted=True)] == [2, 1]
    folder = ws.models / "support-bot" / "2"
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL_CARD.md", "lineage.json"]  # artifact purged
    assert register_model(spec, ws, ds, fake_run(ws, "run-3"), fake_eval()).version == 3  # no reuse


def test_model_card_has_every_section(project):
    spec, ws = project
    mv = register_model(spec, ws, fake_dataset(spec, ws), fake_run(ws), fake_eval(accuracy=0.7))
    card = (Path(mv.path) / "MODEL_CARD.md").read_text()
    for heading in ("Intended use", "Data", "Training setup", "Evaluation against baselines", "Limitations",
                    "PII handling", "Lineage"):
        assert f"## {heading}" in card
    assert "| fine_tuned | 0.7 | 300 |" in card  # evaluation table vs the base system
    assert "| base | 0.2 | 250 |" in card
    assert "**accuracy:** fine-tuned 0.7 vs best baseline `base` 0.2." in card
    assert "Does not meet `accuracy >= 0.8` (measured 0.7)" in card
    assert "\n### Dataset card" in card  # the dataset card, nested under Data
    assert "| PERSON | 1 |" in card and "`card_lost`" in card
    assert "| test | 1 |" in card and "Measured on 1 held-out examples" in card


def _register_worker(root: str, store_url, barrier, queue) -> None:
    from tailorlm.results import DatasetVersion

    spec = make_spec(Path(root), store_url)
    ws = Workspace.for_spec(spec)
    ds = DatasetVersion(name=spec.project, version="ds0001", path=str(ws.datasets / spec.project / "ds0001"))
    run = fake_run(ws, "run-shared")
    barrier.wait(timeout=60)
    queue.put(register_model(spec, ws, ds, run, fake_eval()).version)


def test_two_processes_registering_at_once_get_1_and_2(tmp_path, store_url):
    spec = make_spec(tmp_path, store_url)
    ws = Workspace.for_spec(spec)
    fake_dataset(spec, ws)
    fake_run(ws, "run-shared")
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_register_worker, args=(str(tmp_path), store_url, barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(queue.get(timeout=5) for _ in procs) == [1, 2]
    assert sorted(v["version"] for v in list_versions(ws)) == [1, 2]
    assert sorted(p.name for p in (ws.models / "support-bot").iterdir()) == ["1", "2"]  # no staging left over
    assert audit.verify(ws).ok and audit.verify(ws).checked == 4


def test_moved_project_still_resolves_its_folders(project, tmp_path_factory):
    import shutil

    spec, ws = project
    register_model(spec, ws, fake_dataset(spec, ws), fake_run(ws), fake_eval())
    ws.store.engine.dispose()
    moved = tmp_path_factory.mktemp("moved") / "proj"
    shutil.copytree(spec.root, moved)
    shutil.rmtree(spec.root / ".tailor" / "models")
    ws2 = Workspace(root=moved, store_url=spec.workspace.store_url)
    mv = resolve(ws2, "support-bot@1")
    assert Path(mv.path) == moved / ".tailor" / "models" / "support-bot" / "1"
    assert (Path(mv.path) / "adapter_model.safetensors").exists()
