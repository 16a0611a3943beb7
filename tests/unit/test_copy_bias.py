"""``train.copy_bias``: decoding keeps to a span of the prompt (the retrieved example's answer) unless
the model clearly prefers another token, the same in evaluation and serving."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from engine_helpers import build_lively_llama
from serve_helpers import start_server
from test_registry_helpers import fake_dataset, fake_eval, make_spec

from tailorlm.inference.decode import CopyLookup
from tailorlm.results import TrainRun
from tailorlm.workspace import Workspace


def test_the_lookup_continues_the_last_matching_span_of_the_prompt_only():
    #        0  1  2  3  4  5   6  7  8   (7, 8) stands for the assistant header, also at 0-1
    prompt = [7, 8, 30, 31, 32, 33, 9, 7, 8]
    look = CopyLookup(prompt)
    assert look.next_token([]) == 30  # the first answer token: what followed the earlier header
    assert look.next_token([30, 31]) == 32  # mid-span
    assert look.next_token([30, 31, 32, 33, 9]) == 7  # the span runs to the end of what it matched
    assert look.next_token([55, 56]) is None  # nothing in the prompt ends like this answer
    # The answer itself is never searched: its own repeated span points nowhere.
    assert look.next_token([55, 56, 57, 55, 56]) is None
    # Later steps take the last occurrence of a span, the first step the first (the nearest example).
    twice = CopyLookup([7, 8, 30, 5, 6, 40, 7, 8, 50, 5, 6, 60, 7, 8])
    assert twice.next_token([]) == 30 and twice.next_token([5, 6]) == 60
    assert CopyLookup([1, 2, 3, 7, 8]).next_token([]) is None  # no earlier header: no bonus


def test_the_spec_default_and_the_recipe_record_it():
    from tailorlm.prompting import prompt_recipe
    from tailorlm.spec import ObjectiveSpec
    from tailorlm.spec.train import TrainSpec

    assert TrainSpec().copy_bias == 3.0
    objective = ObjectiveSpec(task="generation")
    assert prompt_recipe(objective, [], False, None, 1, 2.0)["copy_bias"] == 2.0
    assert prompt_recipe(objective, [], False, None, 0, 2.0)["copy_bias"] == 0.0  # no example to keep to
    labels = ObjectiveSpec(task="classification", labels=["a", "b"])
    assert prompt_recipe(labels, ["a", "b"], False, None, 1, 2.0)["copy_bias"] == 0.0  # scored by label scoring


QUESTIONS = ["Where is my parcel for order 123?", "I want a refund for the shoes"]
EXAMPLES = [
    {"id": "t0", "prompt": json.dumps([{"role": "user", "content": "Where is my parcel for order 99?"}]),
     "completion": "Your parcel is on its way; track it under Order History."},
    {"id": "t1", "prompt": json.dumps([{"role": "user", "content": "I want a refund for the jacket"}]),
     "completion": "Refunds take five days after we receive the jacket."},
]
BUDGET = 8


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """One random model registered twice with retrieved examples: copy_bias 0 and 20."""
    from tailorlm.rag import ExampleIndex
    from tailorlm.registry import register_model

    base = build_lively_llama(tmp_path_factory.mktemp("lively"))
    spec = make_spec(tmp_path_factory.mktemp("copy"), None)
    spec.objective.task = "generation"
    spec.model.base, spec.model.device, spec.model.dtype = str(base), "cpu", "float32"
    spec.data.pii.ner = False
    ws = Workspace.for_spec(spec)
    dataset = fake_dataset(spec, ws)
    runs = {}
    for n, bias in ((1, 0.0), (2, 20.0)):
        art = ws.runs / f"run-{n}" / "model"
        shutil.copytree(base, art)
        recipe = {"format": "chat_template", "task": "generation", "retrieved_examples": 1, "copy_bias": bias,
                  "labels_in_prompt": False}
        (art / "provenance.json").write_text(json.dumps({"method": "full", "base_ref": "tiny", "base_path": str(base),
                                                         "prompt_recipe": recipe}))
        ExampleIndex(EXAMPLES).save(art)
        run = TrainRun(run_id=f"run-{n}", path=str(art.parent), model_path=str(art), method="full", base_ref="tiny",
                       base_path=str(base), base_weight_hash="c" * 64, dataset_version="ds0001")
        register_model(spec, ws, dataset, run, fake_eval())
        runs[f"support-bot@{n}"] = run
    return spec, ws, runs


def _eval_answers(spec, run) -> tuple[list[str], list[str]]:
    """The fine_tuned system's answers to the questions, and the example answer each prompt showed."""
    from tailorlm.evaluate.answers import answer_plan
    from tailorlm.evaluate.baselines import plan_systems
    from tailorlm.evaluate.runner import fine_tuned_shots, load_weights

    rows = [{"id": str(i), "prompt": json.dumps([{"role": "user", "content": q}]), "completion": ""}
            for i, q in enumerate(QUESTIONS)]
    shots = fine_tuned_shots(run, rows)
    (plan,) = plan_systems(["fine_tuned"], rows, [], spec.objective, [], spec.eval, None, False, shots)
    loaded = load_weights("fine_tuned", spec, run)
    return [g.text for g in answer_plan(loaded, plan, spec, [], BUDGET, False, run)], [s[0]["completion"] for s in shots]


def test_a_strong_copy_bias_keeps_to_the_example_and_serving_answers_the_same(versions):
    from transformers import AutoTokenizer

    spec, ws, runs = versions
    plain, shown = _eval_answers(spec, runs["support-bot@1"])
    copied, _ = _eval_answers(spec, runs["support-bot@2"])
    tok = AutoTokenizer.from_pretrained(runs["support-bot@2"].model_path)
    for answer, example in zip(copied, shown):
        want = tok.decode(tok(example, add_special_tokens=False)["input_ids"][:BUDGET]).strip()
        assert answer == want  # a random model with a +20 bonus writes the example's first tokens
    assert plain != copied  # without the bonus the random model writes its own tokens
    live = start_server(spec, ws, open_local=True, max_queue=8, max_batch=8)
    try:
        for version, want in (("support-bot@1", plain), ("support-bot@2", copied)):
            got = []
            for q in QUESTIONS:
                r = httpx.post(live.url + "/v1/chat/completions", timeout=120, json={
                    "model": version, "messages": [{"role": "user", "content": q}], "max_tokens": BUDGET,
                    "temperature": 0})
                assert r.status_code == 200, r.text
                got.append(r.json()["choices"][0]["message"]["content"].strip())
            assert got == want, version
    finally:
        live.stop()
