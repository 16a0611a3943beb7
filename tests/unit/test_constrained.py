"""Label-constrained decoding: only labels come out, the label probabilities sum to 1, and the one-pass
tree scoring equals scoring each label on its own with the plain model."""

from __future__ import annotations

import random

import pytest
import torch

from tailorlm.constrained import LabelTrie, label_token_ids, score_labels
from tailorlm.inference import encode_chats, stop_token_ids

# Labels that are prefixes of each other ("card" / "card_lost" / "card_lost_abroad") and that share
# tokens in other places ("lost_card", "card lost"), plus unrelated ones.
POOL = ["card", "card_lost", "card_lost_abroad", "lost_card", "card lost", "cards", "c", "balance",
        "balance_check", "transfer", "transfer_money", "money_transfer", "a", "ab", "abc", "b"]


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    from tailorlm.models import load_base

    m = load_base(str(tiny_model_dir), device="cpu", dtype="float32")
    m.autocast_bf16 = False
    return m


def _brute_force(loaded, prompt: list[int], labels: list[str]) -> list[float]:
    """Each label scored alone: the product over its tokens of the softmax renormalised over the
    trie's allowed next tokens, from full forward passes of the plain model (no cache, no tree mask)."""
    tok, model = loaded.tokenizer, loaded.model
    stops = stop_token_ids(tok, model)
    seqs = [label_token_ids(tok, lab, stops) for lab in labels]
    out = []
    for seq in seqs:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + seq])).logits[0]
        lp = 0.0
        for j, t in enumerate(seq):
            allowed = sorted({s[j] for s in seqs if s[:j] == seq[:j]})
            row = logits[len(prompt) - 1 + j, allowed].log_softmax(-1)
            lp += float(row[allowed.index(t)])
        out.append(lp)
    return [float(torch.tensor(x).exp()) for x in out]


def _prompts(tokenizer, n: int, rng: random.Random, system: str) -> list[list[int]]:
    words = ["my", "card", "is", "lost", "please", "help", "balance", "send", "money", "now", "abroad"]
    chats = [[{"role": "system", "content": system},
              {"role": "user", "content": " ".join(rng.choice(words) for _ in range(rng.randint(1, 9)))}]
             for _ in range(n)]
    return encode_chats(tokenizer, chats)


@pytest.mark.parametrize("seed", range(6))
def test_only_labels_come_out_and_probabilities_sum_to_one(loaded, seed):
    rng = random.Random(seed)
    labels = rng.sample(POOL, rng.randint(2, len(POOL)))
    prompts = _prompts(loaded.tokenizer, 7, rng, "Classify. Labels: " + ", ".join(labels))
    preds = score_labels(loaded, prompts, labels, batch_size=rng.randint(1, 4), progress=False,
                         prefix_cache=bool(seed % 2))
    assert len(preds) == len(prompts)
    for p in preds:
        assert p.text in labels
        assert set(p.probs) == set(labels)
        assert sum(p.probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.probability == pytest.approx(max(p.probs.values())) and p.probs[p.text] == p.probability


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_tree_scoring_equals_scoring_each_label_alone(loaded, prefix_cache):
    rng = random.Random(11)
    labels = ["card", "card_lost", "card_lost_abroad", "lost_card", "cards", "balance", "b"]
    prompts = _prompts(loaded.tokenizer, 5, rng, "Pick one: " + ", ".join(labels))
    preds = score_labels(loaded, prompts, labels, batch_size=3, progress=False, prefix_cache=prefix_cache)
    for prompt, pred in zip(prompts, preds):
        expected = _brute_force(loaded, prompt, labels)
        got = [pred.probs[lab] for lab in labels]
        torch.testing.assert_close(torch.tensor(got), torch.tensor(expected), atol=2e-5, rtol=1e-4)


def test_prefix_labels_get_an_end_of_label_branch(tokenizer):
    stops = stop_token_ids(tokenizer)
    labels = ["card", "card_lost"]
    seqs = [label_token_ids(tokenizer, lab, stops) for lab in labels]
    assert seqs[0][-1] in stops and seqs[1][-1] in stops
    assert seqs[1][:len(seqs[0]) - 1] == seqs[0][:-1]  # "card" is a token prefix of "card_lost"
    trie = LabelTrie.build(labels, seqs)
    branch = trie.parent[trie.path(0)[-1]]
    assert len(trie.children[branch]) == 2  # the end token for "card", the next piece for "card_lost"


def test_labels_with_identical_tokens_are_rejected(tokenizer):
    with pytest.raises(ValueError, match="same tokens"):
        LabelTrie.build(["x", "y"], [[5, 2], [5, 2]])
