"""One engine for evaluation and serving: a greedy request answers the same text through
``tailorlm serve`` and through ``tailorlm eval``'s generation path, for a full fine-tune and for a
LoRA version (merged for evaluation, an adapter on the shared base when served)."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from engine_helpers import build_lively_llama, build_lora_version
from serve_helpers import start_server
from test_registry_helpers import fake_dataset, fake_eval, make_spec

from tailorlm.results import TrainRun
from tailorlm.workspace import Workspace

QUESTIONS = ["My card was stolen yesterday, what now?", "hi", "How do I raise my daily transfer limit?"]
BUDGET = 10


def _register(spec, ws, dataset, art, run_id, method, base):
    from tailorlm.registry import register_model

    run = TrainRun(run_id=run_id, path=str(art.parent), model_path=str(art), method=method, base_ref="tiny",
                   base_path=str(base), base_weight_hash="c" * 64, dataset_version="ds0001")
    register_model(spec, ws, dataset, run, fake_eval())
    return run


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    base = build_lively_llama(tmp_path_factory.mktemp("lively"))
    spec = make_spec(tmp_path_factory.mktemp("parity"), None)
    spec.objective.task = "generation"  # free generation: no label constraint on either side
    spec.model.base, spec.model.device, spec.model.dtype = str(base), "cpu", "float32"
    spec.data.pii.ner = False
    ws = Workspace.for_spec(spec)
    dataset = fake_dataset(spec, ws)
    full = ws.runs / "run-1" / "model"
    shutil.copytree(base, full)
    (full / "provenance.json").write_text(json.dumps({"method": "full", "base_ref": "tiny", "base_path": str(base)}))
    runs = {"support-bot@1": _register(spec, ws, dataset, full, "run-1", "full", base)}
    lora = build_lora_version(base, ws.runs / "run-2" / "model", seed=3)
    runs["support-bot@2"] = _register(spec, ws, dataset, lora, "run-2", "lora", base)
    return spec, ws, runs


def _eval_answers(spec, run) -> list[str]:
    """What ``tailorlm eval`` generates for the questions (the fine_tuned system's prompts and weights)."""
    from tailorlm.evaluate.answers import answer_plan
    from tailorlm.evaluate.baselines import plan_systems
    from tailorlm.evaluate.runner import load_weights

    rows = [{"id": str(i), "prompt": json.dumps([{"role": "user", "content": q}]), "completion": ""}
            for i, q in enumerate(QUESTIONS)]
    (plan,) = plan_systems(["fine_tuned"], rows, [], spec.objective, [], spec.eval)
    loaded = load_weights("fine_tuned", spec, run)
    return [g.text for g in answer_plan(loaded, plan, spec, [], BUDGET, False, run)]


def test_a_greedy_request_answers_the_same_through_the_server_and_evaluation(project):
    spec, ws, runs = project
    live = start_server(spec, ws, open_local=True, max_queue=8, max_batch=8)
    try:
        served = {}
        for version in runs:
            served[version] = []
            for q in QUESTIONS:
                r = httpx.post(live.url + "/v1/chat/completions", timeout=120, json={
                    "model": version, "messages": [{"role": "user", "content": q}], "max_tokens": BUDGET,
                    "temperature": 0})
                assert r.status_code == 200, r.text
                served[version].append(r.json()["choices"][0]["message"]["content"].strip())
    finally:
        live.stop()
    for version, run in runs.items():
        assert _eval_answers(spec, run) == served[version], version
    every = [t for texts in served.values() for t in texts]
    assert all(every) and len(set(every)) == len(every)  # real, different answers: the check can fail
