"""Cleaning, quality filters, dedup and splits: small pure functions on plain inputs."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tailorlm.data.clean import clean_example, clean_text, steps_for
from tailorlm.data.dedup import cluster, content_hash, jaccard, minhash_signature, near_text
from tailorlm.data.filters import apply_filters, repetition_ratio
from tailorlm.data.split import assign_splits
from tailorlm.spec.data import COURTESY_PHRASES, FilterSpec

STEPS = steps_for(clean_html=True)


def test_unicode_repair_html_control_whitespace():
    assert clean_text("The cafÃ© is closed", STEPS) == "The café is closed"
    assert clean_text("<p>Hello&nbsp;<b>world</b></p><script>x()</script>", STEPS) == "Hello world"
    assert clean_text("a\u200bb\x07c\ufeff", STEPS) == "abc"
    assert clean_text("  two   spaces \r\n\r\n\r\n\n next  ", STEPS) == "two spaces\n\nnext"
    assert clean_text("e\u0301", STEPS) == "\u00e9"  # NFC
    assert clean_text("1 < 2 and 3 > 2", STEPS) == "1 < 2 and 3 > 2"  # not HTML: untouched


def test_clean_example_touches_text_fields_only():
    ex = {"kind": "sft", "prompt": [{"role": "user", "content": " <i>hi</i> "}], "completion": " ok ",
          "label": " greet ", "text": None, "chosen": None, "rejected": None}
    out = clean_example(ex, STEPS)
    assert out["prompt"][0]["content"] == "hi" and out["completion"] == "ok" and out["label"] == "greet"


def test_filters_name_the_reason():
    spec = FilterSpec(min_chars=5, max_chars=50, max_repetition=0.5, languages=["en"])
    assert apply_filters("hey", spec)[0] == "min_chars"
    assert apply_filters("x" * 51, spec)[0] == "max_chars"
    assert apply_filters("buy now " * 6, spec)[0] == "repetition"
    assert apply_filters("Je voudrais bloquer ma carte bancaire", spec)[0] == "language"
    assert apply_filters("I would like to block my card", spec) is None
    assert repetition_ratio("one two three") == 0.0


def test_exact_hash_ignores_case_punctuation_space():
    assert content_hash("Lost my card!!") == content_hash("  lost   MY card ")
    assert content_hash("Lost my card") != content_hash("Lost my phone")


def test_near_text_drops_courtesy_phrases():
    a = near_text("Hi! Unknown charge $37, thanks a lot.", COURTESY_PHRASES)
    b = near_text("unknown charge $37", COURTESY_PHRASES)
    assert a == b


def _cluster(texts, threshold=0.7, action="remove"):
    norms = [near_text(t) for t in texts]
    sigs = np.stack([minhash_signature(t, 64, 5) for t in norms])
    alive = np.ones(len(texts), dtype=bool)
    hashes = [(i, content_hash(t)) for i, t in enumerate(texts)]
    return cluster(len(texts), alive, hashes, sigs, threshold, action, lambda i, j: jaccard(norms[i], norms[j], 5))


def test_exact_and_near_duplicates_are_found():
    texts = [
        "My card was declined at the supermarket this morning, please check it",
        "my card was declined at the supermarket this morning please check it",  # exact after normalizing
        "My card was declined at the supermarket this morning, please check it now",  # near
        "How do I order a new cheque book for my business account?",
    ]
    res = _cluster(texts)
    assert res.status.tolist() == [0, 1, 2, 0]
    assert res.duplicate_of[1] == 0 and res.duplicate_of[2] == 0
    assert res.root[2] == 0 and res.root[3] == 3


def test_keep_mode_keeps_cluster_members_together_in_one_split():
    base = "Please increase the overdraft limit on my current account to {} pounds before the holidays"
    texts = [base.format(n) for n in range(100, 130)] + [f"unrelated question number {i} about savings rates {i * 7}"
                                                          for i in range(60)]
    res = _cluster(texts, threshold=0.7, action="keep")
    assert not res.status.any()
    groups = [str(r) for r in res.root]
    assert len(set(groups[:30])) < 5  # the templated messages collapse into few clusters
    splits = assign_splits(groups, [None] * len(texts), 0.15, 0.15, seed=3, stratify=False)
    for g in set(groups):
        assert len({s for s, gg in zip(splits, groups) if gg == g}) == 1


def test_splits_are_seeded_stratified_and_sized():
    labels = ["a"] * 200 + ["b"] * 100 + ["c"] * 20
    groups = [f"g{i}" for i in range(len(labels))]
    s1 = assign_splits(groups, labels, 0.1, 0.2, seed=0)
    assert s1 == assign_splits(groups, labels, 0.1, 0.2, seed=0)
    assert s1 != assign_splits(groups, labels, 0.1, 0.2, seed=1)
    by = Counter(zip(labels, s1))
    assert by[("a", "test")] == 40 and by[("b", "test")] == 20 and by[("c", "test")] == 4
    assert by[("a", "validation")] == 20 and by[("c", "validation")] == 2
