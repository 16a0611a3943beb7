"""A generation evaluation end to end on the tiny model: embedding similarity is reported beside ROUGE,
with the fine-tuned model's paired-bootstrap lead in both."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from tailorlm.models import embeddings as E
from tailorlm.results import TrainRun
from tailorlm.spec import parse_spec
from tailorlm.workspace import Workspace


class CharCounts:
    """A fake encoder (letter counts), so the test does not load the real embedding model."""

    def encode(self, sentences, **kwargs):
        out = np.zeros((len(sentences), 26))
        for i, s in enumerate(sentences):
            for c in s.lower():
                if "a" <= c <= "z":
                    out[i, ord(c) - 97] += 1
        return out + 1e-3  # no all-zero vector for a text without letters


def _dataset_and_run(tmp_path, tiny_model_dir, n_test: int):
    """A tiny dataset version and a "fine-tuned" run whose model is the tiny base copied (full weights)."""
    from dataset_fixtures import write_dataset_version

    ds = write_dataset_version(tmp_path / "data", n_train=8, n_val=2, n_test=n_test)
    model_path = tmp_path / "run1" / "model"
    shutil.copytree(tiny_model_dir, model_path)
    (model_path / "provenance.json").write_text(json.dumps({"method": "full", "base_ref": str(tiny_model_dir),
                                                            "base_path": str(tiny_model_dir)}))
    run = TrainRun(run_id="run1", path=str(tmp_path / "run1"), model_path=str(model_path), method="full",
                   base_ref=str(tiny_model_dir), base_path=str(tiny_model_dir), base_weight_hash="x",
                   dataset_version=ds.version, metrics={"wall_seconds": 1.0})
    return ds, run


def test_generation_report_has_embedding_similarity_beside_rouge(tmp_path, tiny_model_dir):
    from tailorlm.evaluate import run_evaluation

    ds, run = _dataset_and_run(tmp_path, tiny_model_dir, n_test=4)
    spec = parse_spec({
        "project": "gen", "data": {"sources": [{"path": "x.jsonl"}]},
        "model": {"base": str(tiny_model_dir), "device": "cpu"},
        "objective": {"task": "generation", "criteria": ["embedding_similarity >= 0.0"]},
        "eval": {"systems": ["base", "fine_tuned"], "batch_size": 4, "max_new_tokens": 6,
                 "compliance": {"pii": False}},
    }, tmp_path)
    fake = E.Embedder(CharCounts(), "char-counts")
    with E.use_embedder(fake):
        result = run_evaluation(spec, Workspace(tmp_path), ds, run, progress=False)
    for name in ("base", "fine_tuned"):
        sim = result.systems[name]["embedding_similarity"]
        assert 0.0 <= sim <= 1.0 and "rougeL" in result.systems[name]
    assert result.gates["fine_tuned"][0]["passed"] is True  # a criterion on the metric is accepted and checked
    table = Path(result.path, "report.md").read_text()
    assert "| embedding_similarity |" in table and "| rougeL |" in table
    doc = json.loads(Path(result.report_json).read_text())
    lead = doc["info"]["significance_secondary"]["embedding_similarity"]["base"]
    assert lead["n"] == 4 and lead["low"] <= lead["diff"] <= lead["high"]
    assert "embedding_similarity" in doc["roi"]["vs"]["base"]["secondary"]
    assert "fine_tuned vs base: rougeL" in table and "; embedding_similarity " in table


def test_the_base_model_answers_a_seeded_sample_and_is_compared_on_it(tmp_path, tiny_model_dir):
    """``eval.reference_rows``: base answers 3 of the 6 test rows, fine_tuned and classical all 6; the
    paired intervals against base use those 3, and the report says so."""
    from tailorlm.evaluate import run_evaluation

    ds, run = _dataset_and_run(tmp_path, tiny_model_dir, n_test=6)
    spec = parse_spec({
        "project": "gen", "data": {"sources": [{"path": "x.jsonl"}]},
        "model": {"base": str(tiny_model_dir), "device": "cpu"}, "objective": {"task": "generation"},
        "eval": {"systems": ["base", "classical", "fine_tuned"], "batch_size": 4, "max_new_tokens": 4,
                 "reference_rows": 3, "compliance": {"pii": False}},
    }, tmp_path)
    with E.use_embedder(E.Embedder(CharCounts(), "char-counts")):
        result = run_evaluation(spec, Workspace(tmp_path), ds, run, progress=False)
    doc = json.loads(Path(result.report_json).read_text())
    assert doc["info"]["system_examples"] == {"base": 3, "classical": 6, "fine_tuned": 6}
    preds = [json.loads(line) for line in Path(result.path, "predictions.jsonl").read_text().splitlines()]
    base_ids = {p["id"] for p in preds if p["system"] == "base"}
    assert len(base_ids) == 3 and base_ids < {p["id"] for p in preds if p["system"] == "fine_tuned"}
    assert doc["info"]["significance"]["base"]["n"] == 3 and doc["info"]["significance"]["classical"]["n"] == 6
    assert doc["info"]["significance_secondary"]["embedding_similarity"]["base"]["n"] == 3
    assert "(base 3: a seeded sample, eval.reference_rows)" in Path(result.path, "report.md").read_text()
    assert "a seeded sample of 3 of the 6" in " ".join(doc["details"]["base"]["notes"])
