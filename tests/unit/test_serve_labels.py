"""Classification versions served as labels: a classifier head answers its argmax label with its
log-probability; a generative classification version is constrained to the label set."""

from __future__ import annotations

import math

import pytest
import torch

from tailorlm.models.loader import LoadedModel, ResolvedBase
from tailorlm.serve.catalog import Recipe
from tailorlm.serve.decode import Decoder, SamplingParams
from tailorlm.spec import ObjectiveSpec

LABELS = ["card_lost", "card", "transfer_money", "balance"]  # "card" is a prefix of "card_lost"
OBJECTIVE = ObjectiveSpec(task="classification", instruction="Pick the intent.", labels=LABELS)


def _loaded(model, tokenizer) -> LoadedModel:
    return LoadedModel(model.eval(), tokenizer, "cpu", False, ResolvedBase("tiny", "tiny", "h"))


def test_a_classifier_head_version_answers_its_argmax_label_with_its_logprob(tiny_model_dir, tokenizer):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={lab: i for i, lab in enumerate(LABELS)}, pad_token_id=tokenizer.pad_token_id)
    recipe = Recipe(OBJECTIVE, tuple(LABELS), head="classifier", max_len=64)
    prompt = recipe.prompt_ids(tokenizer, [{"role": "system", "content": "ignored"},
                                           {"role": "user", "content": "I lost my card"}])
    assert prompt == tokenizer("I lost my card", add_special_tokens=False)["input_ids"]  # the message alone
    with torch.inference_mode():
        probs = model(input_ids=torch.tensor([prompt])).logits[0].softmax(-1)
    decoder = Decoder(_loaded(model, tokenizer))
    [deltas] = list(decoder.run(prompt, SamplingParams(max_tokens=8, temperature=0, logprobs=True, top_logprobs=2)))
    [d] = deltas
    assert d.text == LABELS[int(probs.argmax())] and d.finish_reason == "stop"
    assert d.logprobs[0].logprob == pytest.approx(math.log(float(probs.max())), abs=1e-5)
    assert [t[0] for t in d.logprobs[0].top][0] == d.text and len(d.logprobs[0].top) == 2
    assert recipe.constraint(tokenizer) is None  # a label by construction


@pytest.mark.parametrize("seed", range(6))
def test_a_generative_classification_version_only_answers_labels(tiny_model_dir, tokenizer, seed):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    recipe = Recipe(OBJECTIVE, tuple(LABELS))
    prompt = recipe.prompt_ids(tokenizer, [{"role": "user", "content": f"message number {seed}"}])
    decoder = Decoder(_loaded(model, tokenizer))
    params = SamplingParams(max_tokens=12, temperature=1.5, seed=seed, n=3)  # sampling: any path of the trie
    texts = [""] * params.n
    for deltas in decoder.run(prompt, params, constraint=recipe.constraint(tokenizer)):
        for d in deltas:
            texts[d.index] += d.text
    assert all(t in LABELS for t in texts), texts
