"""Record-level lineage: a source file or record id -> dataset versions -> model versions."""

from __future__ import annotations

import json

from sqlalchemy import text
from test_registry_helpers import SOURCE, fake_dataset, fake_eval, fake_run, project, store_url  # noqa: F401

from tailorlm.registry import delete_version, find_lineage, register_model
from tailorlm.registry.lineage import normalize_sources


def test_source_file_and_record_id_find_the_model(project):
    spec, ws = project
    ds = fake_dataset(spec, ws)
    register_model(spec, ws, ds, fake_run(ws), fake_eval())
    for query in (SOURCE, str(spec.root / SOURCE)):
        found = find_lineage(ws, query, root=spec.root)
        assert [d["version"] for d in found["datasets"]] == ["ds0001"]
        assert found["datasets"][0]["records"] == 3 and found["datasets"][0]["splits"] == {"train": 2, "test": 1}
        assert [m["ref"] for m in found["models"]] == ["support-bot@1"]
        assert found["models"][0]["aliases"] == ["candidate"]
    by_id = find_lineage(ws, "m3", root=spec.root)
    assert by_id["datasets"] == [{"version": "ds0001", "records": 1, "splits": {"test": 1}, "matched_by": "record_id"}]
    assert [m["ref"] for m in by_id["models"]] == ["support-bot@1"]


def test_only_models_trained_on_the_data_are_listed(project):
    spec, ws = project
    register_model(spec, ws, fake_dataset(spec, ws, "ds0001"), fake_run(ws, "run-1"), fake_eval())
    # A second dataset version without message m3 (e.g. after an erasure).
    ds2 = fake_dataset(spec, ws, "ds0002")
    with ws.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM record_lineage WHERE dataset_version = 'ds0002' AND record_id = 'm3'"))
    register_model(spec, ws, ds2, fake_run(ws, "run-2"), fake_eval())
    assert [m["ref"] for m in find_lineage(ws, "m3")["models"]] == ["support-bot@1"]
    assert [m["ref"] for m in find_lineage(ws, "m1")["models"]] == ["support-bot@1", "support-bot@2"]
    delete_version(ws, "support-bot@1", reason="erasure request #12", purge=True)
    m3 = find_lineage(ws, "m3")["models"]
    assert m3[0]["deleted"] is True  # still listed: the erasure trail shows it was handled
    assert find_lineage(ws, "nobody")["models"] == []


def test_manifest_alone_is_enough_for_file_lineage(project):
    spec, ws = project
    ds = fake_dataset(spec, ws)
    with ws.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM record_lineage"))
    register_model(spec, ws, ds, fake_run(ws), fake_eval())
    found = find_lineage(ws, SOURCE, root=spec.root)
    assert found["datasets"][0]["matched_by"] == "manifest"
    assert [m["ref"] for m in found["models"]] == ["support-bot@1"]


def test_normalize_sources_accepts_list_and_mapping_shapes():
    assert normalize_sources({"sources": [{"path": "a.jsonl", "hash": "h1"}]}) == [{"path": "a.jsonl", "hash": "h1", "sha256": "h1"}]
    assert normalize_sources({"sources": {"a.jsonl": "h1"}}) == [{"path": "a.jsonl", "sha256": "h1"}]
    assert normalize_sources({"sources": {"a.jsonl": {"sha256": "h2", "records": 4}}}) == [
        {"path": "a.jsonl", "sha256": "h2", "records": 4}]
    assert normalize_sources(json.loads("{}")) == []
