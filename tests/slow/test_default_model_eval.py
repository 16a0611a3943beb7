"""The real default model (SmolLM2-135M-Instruct) through the evaluation stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailorlm.spec import parse_spec
from tailorlm.workspace import Workspace

pytestmark = pytest.mark.slow


def test_real_model_base_and_few_shot(tmp_path):
    """SmolLM2-135M-Instruct on 16 support messages: answers come back, metrics and report are written."""
    from tailorlm.evaluate import run_evaluation
    from dataset_fixtures import write_dataset_version

    ds = write_dataset_version(tmp_path / "data", n_train=32, n_val=4, n_test=16)
    spec = parse_spec({"project": "real", "data": {"sources": [{"path": "x.jsonl"}]},
                       "objective": {"criteria": ["accuracy >= 0.9"]},
                       "eval": {"systems": ["base", "few_shot"], "compliance": {"pii": False}}}, tmp_path)
    result = run_evaluation(spec, Workspace(tmp_path), ds, None, progress=False)
    preds = [json.loads(x) for x in (Path(result.path) / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 32
    assert sum(bool(p["prediction"]) for p in preds) >= 24  # the real model answers (rarely empty)
    assert result.systems["few_shot"]["mean_prompt_tokens"] > result.systems["base"]["mean_prompt_tokens"]
    assert all(p["completion_tokens"] <= 7 for p in preds)  # longest label (5 tokens) + 2
