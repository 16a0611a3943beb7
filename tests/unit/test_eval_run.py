"""run_evaluation end to end on the tiny model: five systems, gates, report files, review round trip, CLI gate."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tailorlm.errors import UserError
from tailorlm.results import DatasetVersion, EvalResult, TrainRun
from tailorlm.spec import parse_spec
from tailorlm.workspace import Workspace

SYSTEMS = ["base", "few_shot", "rag", "fine_tuned", "fine_tuned_rag"]


def _spec(root: Path, model_dir: Path, **eval_overrides):
    # Free generation: the random model's prose answers exercise the flags (constrained decoding,
    # the default, only ever answers with a label; see test_eval_labels.py).
    ev = {"systems": SYSTEMS, "batch_size": 4, "label_decoding": "free",
          "compliance": {"forbidden": ["sorry"], "max_chars": 30, "pii": False}}
    ev.update(eval_overrides)
    return parse_spec({
        "project": "tiny", "data": {"sources": [{"path": "x.jsonl"}]}, "model": {"base": str(model_dir), "device": "cpu"},
        "objective": {"criteria": ["accuracy >= 0.9", "p95_latency_ms <= 100000"]}, "eval": ev,
    }, root)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_model_dir):
    from dataset_fixtures import write_dataset_version

    root = tmp_path_factory.mktemp("proj")
    ds = write_dataset_version(root / "data", n_train=24, n_val=4, n_test=10)
    # A "fine-tuned" artifact: full weights (a copy of the tiny model) with its provenance file.
    model_path = root / "run1" / "model"
    shutil.copytree(tiny_model_dir, model_path)
    (model_path / "provenance.json").write_text(json.dumps({
        "method": "full", "base_ref": str(tiny_model_dir), "base_path": str(tiny_model_dir)}))
    (root / "run1" / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "loss": 3.0 - s / 10}) + "\n" for s in range(1, 11)) + json.dumps(
        {"step": 10, "eval_loss": 2.5}) + "\n")
    run = TrainRun(run_id="run1", path=str(root / "run1"), model_path=str(model_path), method="full",
                   base_ref=str(tiny_model_dir), base_path=str(tiny_model_dir), base_weight_hash="x",
                   dataset_version=ds.version, metrics={"wall_seconds": 120.0})
    spec = _spec(root, tiny_model_dir)
    from tailorlm.evaluate import run_evaluation

    result = run_evaluation(spec, Workspace(root), ds, run, progress=False)
    return root, ds, run, spec, result


def test_all_five_systems_scored_and_gated(setup):
    _, ds, _, spec, result = setup
    assert isinstance(result, EvalResult)
    assert list(result.systems) == SYSTEMS
    for name, metrics in result.systems.items():
        for m in ("accuracy", "macro_f1", "p95_latency_ms", "hallucination_rate", "compliance_violation_rate",
                  "mean_prompt_tokens"):
            assert m in metrics, (name, m)
        assert [g["criterion"] for g in result.gates[name]] == ["accuracy >= 0.9", "p95_latency_ms <= 100000"]
    # A random model cannot reach 90% accuracy: the fine-tuned system fails, so the evaluation fails.
    assert result.gates["fine_tuned"][0]["passed"] is False
    assert result.passed is False
    # few-shot prompts carry the shots: longer than zero-shot ones; RAG prompts carry passages.
    s = result.systems
    assert s["few_shot"]["mean_prompt_tokens"] > s["base"]["mean_prompt_tokens"]
    assert s["rag"]["mean_prompt_tokens"] > s["base"]["mean_prompt_tokens"]


def test_report_folder_contents(setup):
    _, ds, _, spec, result = setup
    folder = Path(result.path)
    preds = [json.loads(x) for x in (folder / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 10 * len(SYSTEMS)
    rec = preds[0]
    for key in ("system", "id", "prediction", "reference", "correct", "hallucination", "compliance", "latency_ms",
                "prompt_tokens", "completion_tokens"):
        assert key in rec
    # the tiny model never answers with a label: every answer is flagged as outside the label set
    assert all(p["hallucination"] for p in preds)
    rag = [p for p in preds if p["system"] == "rag"]
    assert all(len(p["context_ids"]) == spec.eval.rag_k == 2 for p in rag)
    doc = json.loads(Path(result.report_json).read_text())
    assert doc["roi"]["training_cost"] == pytest.approx(120 / 3600 * 2.0)
    assert set(doc["roi"]["vs"]) == {"base", "few_shot", "rag"}
    html = Path(result.report_html).read_text()
    assert html.count("data:image/png;base64,") == 4  # metric bars, confusion, latency, loss curve
    assert "FAILED" in html and "fine_tuned_rag" in html and "Return on investment" in html
    assert "| accuracy |" in Path(result.report_md).read_text()
    assert sorted(p.name for p in (folder / "plots").iterdir()) == ["confusion.png", "latency.png", "loss.png",
                                                                      "metrics.png"]


def test_without_a_run_only_base_systems(tmp_path, tiny_model_dir, setup):
    _, ds, _, _, _ = setup
    from tailorlm.evaluate import run_evaluation

    spec = _spec(tmp_path, tiny_model_dir, limit=3)
    result = run_evaluation(spec, Workspace(tmp_path), ds, None, progress=False)
    assert list(result.systems) == ["base", "few_shot", "rag"]
    assert result.passed is False
    assert json.loads(Path(result.report_json).read_text())["info"]["skipped_systems"] == ["fine_tuned", "fine_tuned_rag"]


def test_empty_test_split_is_a_clear_error(tmp_path, tiny_model_dir):
    from tailorlm.evaluate import run_evaluation

    d = tmp_path / "ds"
    d.mkdir()
    pd.DataFrame({"id": [], "prompt": [], "completion": []}).to_parquet(d / "test.parquet")
    ds = DatasetVersion("tiny", "v", str(d), labels=["a"])
    with pytest.raises(UserError, match="test split is empty"):
        run_evaluation(_spec(tmp_path, tiny_model_dir), Workspace(tmp_path), ds, None, progress=False)


def test_review_export_import_round_trip(setup, tmp_path):
    from tailorlm.evaluate.review import export_review, import_review

    _, _, _, _, result = setup
    paths = export_review(result.path, "base", "fine_tuned", sample=4, seed=1)
    rows = list(csv.DictReader(open(paths["csv"], encoding="utf-8")))
    assert len(rows) == 4 and all(r["grade"] == "" for r in rows)
    assert "<section" in Path(paths["html"]).read_text() and "fine_tuned" not in Path(paths["html"]).read_text()
    key = json.loads(Path(paths["key"]).read_text())["pairs"]
    # Grade: always pick the fine-tuned answer on the first two pairs, the base one on the third, tie on the last.
    for i, r in enumerate(rows):
        side_ft = "A" if key[r["pair_id"]]["A"] == "fine_tuned" else "B"
        r["grade"] = [side_ft, side_ft, "B" if side_ft == "A" else "A", "tie"][i]
    graded = tmp_path / "graded.csv"
    with open(graded, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = import_review(result.path, graded)
    assert (res["wins"], res["losses"], res["ties"]) == (2, 1, 1)
    assert res["win_rate"] == pytest.approx(0.5)
    assert res["win_rate_ties_half"] == pytest.approx(2.5 / 4)
    rows[1]["grade"] = "maybe"
    with open(graded, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(UserError, match=r"graded.csv:3: grade 'maybe'"):
        import_review(result.path, graded)


@pytest.mark.parametrize("passed, code", [(True, 0), (False, 1)])
def test_cli_gate_exit_code(monkeypatch, tmp_path, passed, code):
    from typer.testing import CliRunner

    from tailorlm import pipeline
    from tailorlm.cli.main import app

    (tmp_path / "tailor.yaml").write_text("project: p\ndata:\n  sources: [{path: x.jsonl}]\n"
                                          "eval:\n  systems: [base]\n")
    (tmp_path / "x.jsonl").write_text("{}\n")
    fake = EvalResult("e1", str(tmp_path), {"base": {"accuracy": 0.5}}, {"base": []}, passed,
                      str(tmp_path / "r.html"), str(tmp_path / "r.json"))
    monkeypatch.setattr(pipeline, "stage_data", lambda ctx: None)
    monkeypatch.setattr(pipeline, "stage_eval", lambda ctx, ds, run: fake)
    res = CliRunner().invoke(app, ["eval", "--gate", "--spec", str(tmp_path / "tailor.yaml")])
    assert res.exit_code == code, res.output


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed")
def test_report_renders_in_headless_chromium(setup, tmp_path):
    """Screenshot report.html and check the page has content: plots and tables, not a blank page."""
    import subprocess

    import matplotlib.image as mpimg

    _, _, _, _, result = setup
    shot = tmp_path / "report.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1280,2400", Path(result.report_html).as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    img = mpimg.imread(shot)  # (H, W, 3|4) floats in [0, 1]
    assert img.shape[0] == 2400 and img.shape[1] == 1280
    rgb = img[..., :3]
    # Not blank: many distinct colours (plot lines, bars, heatmap) and a good share of non-background pixels.
    distinct = len({tuple(px) for px in (rgb[::8, ::8].reshape(-1, 3) * 255).astype(int).tolist()})
    assert distinct > 50
    background = (abs(rgb - rgb[5, 5]).sum(-1) < 0.02).mean()
    assert background < 0.9


def test_continued_pretraining_scores_token_loss(tmp_path, tiny_model_dir, setup):
    import math

    from tailorlm.evaluate import run_evaluation
    from dataset_fixtures import write_dataset_version

    _, _, run, _, _ = setup
    ds = write_dataset_version(tmp_path / "data", n_train=4, n_val=2, n_test=5, kind="text")
    spec = parse_spec({
        "project": "cpt", "data": {"sources": [{"path": "x"}]}, "model": {"base": str(tiny_model_dir)},
        "objective": {"task": "continued_pretraining", "criteria": ["perplexity <= 1e9"]},
        "eval": {"systems": ["base", "fine_tuned"]},
    }, tmp_path)
    result = run_evaluation(spec, Workspace(tmp_path), ds, run, progress=False)
    for name in ("base", "fine_tuned"):
        m = result.systems[name]
        assert m["eval_loss"] > 0 and m["perplexity"] == pytest.approx(math.exp(m["eval_loss"]))
    # the "fine-tuned" artifact is a copy of the base weights: same loss
    assert result.systems["fine_tuned"]["eval_loss"] == pytest.approx(result.systems["base"]["eval_loss"], rel=1e-4)
    assert result.passed is True
    assert Path(result.report_html).exists()


def test_cli_review_export_and_import(setup, tmp_path):
    from typer.testing import CliRunner

    from tailorlm.cli.main import app

    _, _, _, _, result = setup
    spec_path = tmp_path / "tailor.yaml"
    spec_path.write_text("project: p\ndata:\n  sources: [{path: x.jsonl}]\neval:\n  review: {sample: 3, seed: 2}\n")
    runner = CliRunner()
    res = runner.invoke(app, ["review", "export", "--spec", str(spec_path), "--eval", result.path])
    assert res.exit_code == 0, res.output
    csv_path = Path(result.path) / "review" / "review.csv"
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert len(rows) == 3
    for r in rows:
        r["grade"] = "tie"
    with open(tmp_path / "g.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = runner.invoke(app, ["review", "import", str(tmp_path / "g.csv"), "--spec", str(spec_path),
                              "--eval", result.path, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["ties"], out["wins"], out["win_rate"], out["win_rate_ties_half"]) == (3, 0, 0.0, 0.5)
