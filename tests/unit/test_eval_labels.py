"""Evaluation of label answers: constrained decoding on the generating systems, the classifier head's
fine_tuned system, calibration (ECE, reliability plot) and objective.min_confidence routing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailorlm.evaluate.calibration import abstention, expected_calibration_error, reliability_bins
from tailorlm.evaluate.confusions import most_confused
from tailorlm.spec import parse_spec
from dataset_fixtures import INTENTS, write_dataset_version
from tailorlm.workspace import Workspace


def _spec(root: Path, model_dir: Path, systems, min_confidence: float = 0.0, train=None):
    return parse_spec({
        "project": "tiny", "data": {"sources": [{"path": "x.jsonl"}]}, "model": {"base": str(model_dir), "device": "cpu"},
        "objective": {"criteria": ["accuracy >= 0.9", "expected_calibration_error <= 0.1"],
                      "min_confidence": min_confidence},
        "train": train or {"max_steps": 60, "batch_size": 8, "learning_rate": 1e-2, "eval_every": 60},
        "eval": {"systems": systems, "batch_size": 4, "compliance": {"pii": False}},
    }, root)


def _preds(result) -> list[dict]:
    return [json.loads(x) for x in (Path(result.path) / "predictions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model_dir):
    from tailorlm.train import run_training

    root = tmp_path_factory.mktemp("labels")
    ds = write_dataset_version(root / "data", n_train=64, n_val=8, n_test=12)
    run = run_training(_spec(root, tiny_model_dir, ["fine_tuned"]), Workspace(root), ds, progress=False)
    return root, ds, run


def test_constrained_base_systems_answer_only_labels_with_calibration(project, tiny_model_dir):
    from tailorlm.evaluate import run_evaluation

    root, ds, _ = project
    result = run_evaluation(_spec(root, tiny_model_dir, ["base", "few_shot"]), Workspace(root), ds, None,
                            progress=False)
    preds = _preds(result)
    assert len(preds) == 24 and all(p["prediction"] in INTENTS for p in preds)
    for name in ("base", "few_shot"):
        m = result.systems[name]
        assert m["hallucination_rate"] == 0.0 and 0.0 <= m["expected_calibration_error"] <= 1.0
        assert 0.25 <= m["mean_confidence"] <= 1.0  # 4 labels: the argmax has at least 1/4
    assert all(0.25 <= p["probability"] <= 1.0 and len(p["top_labels"]) == 3 for p in preds)
    html = Path(result.report_html).read_text()
    assert "reliability diagram" in html and "Most-confused label pairs" in html and 'class="sortable"' in html
    assert (Path(result.path) / "plots" / "reliability.png").exists()
    assert [g["criterion"] for g in result.gates["base"]][1] == "expected_calibration_error <= 0.1"


def test_classifier_version_answers_by_its_head_and_skips_rag(project, tiny_model_dir):
    from tailorlm.evaluate import run_evaluation

    root, ds, run = project
    spec = _spec(root, tiny_model_dir, ["base", "fine_tuned", "fine_tuned_rag"])
    result = run_evaluation(spec, Workspace(root), ds, run, progress=False)
    assert list(result.systems) == ["base", "fine_tuned"]
    info = json.loads(Path(result.report_json).read_text())["info"]
    assert info["skipped_systems"] == ["fine_tuned_rag"]
    assert "classifier-head" in info["skipped_reasons"]["fine_tuned_rag"]
    ft = [p for p in _preds(result) if p["system"] == "fine_tuned"]
    assert all(p["prediction"] in INTENTS and p["completion_tokens"] == 0 for p in ft)  # no generation
    # The head reads the message alone: its prompts are a few tokens, the base prompt carries the labels.
    assert result.systems["fine_tuned"]["mean_prompt_tokens"] < result.systems["base"]["mean_prompt_tokens"] / 3
    assert result.systems["fine_tuned"]["accuracy"] >= 0.75  # 60 steps: over seeds 0-5 and both precisions the worst was 0.83 (30 steps: 0.58)
    assert result.systems["fine_tuned"]["eval_seconds"] > 0
    assert "classifier-head" in Path(result.report_md).read_text()


def test_min_confidence_routes_and_counts(project, tiny_model_dir):
    from tailorlm.evaluate import run_evaluation

    root, ds, run = project
    ws = Workspace(root)
    first = run_evaluation(_spec(root, tiny_model_dir, ["fine_tuned"]), ws, ds, run, progress=False)
    probs = sorted(p["probability"] for p in _preds(first))
    assert first.systems["fine_tuned"]["routed_rate"] == 0.0
    threshold = (probs[5] + probs[6]) / 2 if probs[5] < probs[6] else probs[6] + 1e-9
    result = run_evaluation(_spec(root, tiny_model_dir, ["fine_tuned"], min_confidence=threshold), ws, ds, run,
                            progress=False)
    preds = _preds(result)
    routed = [p for p in preds if p["routed"]]
    assert routed and all(p["probability"] < threshold for p in routed)
    assert all(p["probability"] >= threshold for p in preds if not p["routed"])
    m = result.systems["fine_tuned"]
    assert m["routed_count"] == len(routed) and m["routed_rate"] == pytest.approx(len(routed) / len(preds))
    kept = [p["correct"] for p in preds if not p["routed"]]
    assert m["answered_accuracy"] == pytest.approx(sum(kept) / len(kept))
    assert m["accuracy"] == first.systems["fine_tuned"]["accuracy"]  # routing does not change the raw accuracy


def test_ece_on_plain_inputs():
    assert expected_calibration_error([0.8] * 10, [True] * 8 + [False] * 2) == pytest.approx(0.0)
    assert expected_calibration_error([0.9] * 4, [True, False, False, False]) == pytest.approx(0.65)
    bins = reliability_bins([0.05, 0.95, 1.0], [False, True, True])
    assert [b["count"] for b in bins] == [1, 2] and bins[1]["accuracy"] == 1.0
    assert abstention([0.2, 0.6, 0.9], [False, True, False], 0.5) == {
        "routed_count": 1.0, "routed_rate": pytest.approx(1 / 3), "answered_accuracy": 0.5}
    assert abstention([0.2], [True], 0.5)["answered_accuracy"] == 1.0  # nothing answered, nothing wrong


def test_most_confused_pairs_rank_errors_with_examples():
    recs = [{"id": str(i), "reference": t, "prediction": p, "input": f"msg {i}"} for i, (t, p) in enumerate(
        [("a", "b"), ("a", "b"), ("a", "a"), ("b", "c"), ("c", "c"), ("a", "b")])]
    pairs = most_confused(recs, examples=2)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [("a", "b", 3), ("b", "c", 1)]
    assert pairs[0]["share"] == pytest.approx(0.75) and [e["id"] for e in pairs[0]["examples"]] == ["0", "1"]


def test_many_labels_link_the_matrix_and_keep_the_tables(tmp_path, tiny_model_dir):
    import pandas as pd

    from tailorlm.evaluate import run_evaluation
    from tailorlm.results import DatasetVersion

    labels = [f"intent_{i:02d}" for i in range(25)]
    rows = [{"id": f"t{i}", "kind": "sft", "prompt": json.dumps([{"role": "user", "content": f"message {i}"}]),
             "completion": labels[i % 25], "label": labels[i % 25]} for i in range(50)]
    folder = tmp_path / "ds" / "v1"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        pd.DataFrame(rows).to_parquet(folder / f"{split}.parquet", index=False)
    ds = DatasetVersion(name="many", version="v1", path=str(folder), labels=labels)
    result = run_evaluation(_spec(tmp_path, tiny_model_dir, ["base"]), Workspace(tmp_path), ds, None, progress=False)
    html = Path(result.report_html).read_text()
    assert '<a href="plots/confusion.png">' in html and (Path(result.path) / "plots" / "confusion.png").exists()
    assert html.count("data:image/png;base64,") == 3  # metric bars, latency, reliability: the matrix is linked
    assert html.count("<tr><td>intent_") >= 25  # one sortable row per label
    doc = json.loads(Path(result.report_json).read_text())
    assert doc["confused_pairs"] and all(p["predicted"] in labels for p in doc["confused_pairs"])
    assert "## Most-confused label pairs" in Path(result.report_md).read_text()
