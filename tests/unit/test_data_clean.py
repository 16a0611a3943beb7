"""Cleaning, quality filters, dedup and splits: small pure functions on plain inputs."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from tailorlm.data.clean import clean_example, clean_text, steps_for
from tailorlm.data.dedup import (
    band_keys,
    cluster,
    content_hash,
    edit_keys,
    edit_matcher,
    hash_to_int,
    jaccard,
    lsh_matcher,
    lsh_params,
    minhash_signature,
    near_text,
    within_one_word,
)
from tailorlm.data.filters import apply_filters, repetition_ratio
from tailorlm.data.split import SPLITS, assign_splits
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
    params = lsh_params(threshold, 64)
    keys = np.array([band_keys(minhash_signature(t, 64, 5), *params) for t in norms], dtype=np.int64)
    alive = np.ones(len(texts), dtype=bool)
    hashes = np.array([hash_to_int(content_hash(t)) for t in texts], dtype=np.int64)
    return cluster(len(texts), alive, hashes, action, [lsh_matcher(keys, norms.__getitem__, threshold, 5)])


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
    rng = random.Random(0)
    vocab = [f"{a}{b}" for a in "bcdfghklmnprstvz" for b in ("ail", "orn", "ump", "ell", "ist", "oke")]
    others = [" ".join(rng.sample(vocab, 8)) for _ in range(60)]  # unrelated messages
    texts = [base.format(n) for n in range(100, 130)] + others
    res = _cluster(texts, threshold=0.7, action="keep")
    assert not res.status.any()
    groups = res.root
    assert len(set(groups[:30])) < 5  # the templated messages collapse into few clusters
    splits = assign_splits(groups, [None] * len(texts), 0.15, 0.15, seed=3, stratify=False)
    for g in set(groups):
        assert len(set(splits[groups == g])) == 1
    assert set(splits) == {0, 1, 2}


def test_splits_are_seeded_stratified_and_sized():
    labels = ["a"] * 200 + ["b"] * 100 + ["c"] * 20
    groups = [f"g{i}" for i in range(len(labels))]
    s1 = assign_splits(groups, labels, 0.1, 0.2, seed=0)
    assert (s1 == assign_splits(groups, labels, 0.1, 0.2, seed=0)).all()
    assert (s1 != assign_splits(groups, labels, 0.1, 0.2, seed=1)).any()
    by = Counter(zip(labels, (SPLITS[k] for k in s1)))
    assert by[("a", "test")] == 40 and by[("b", "test")] == 20 and by[("c", "test")] == 4
    assert by[("a", "validation")] == 20 and by[("c", "validation")] == 2


def test_short_texts_one_word_apart_are_near_duplicates():
    texts = ["I need to close my checking account.", "I want to close my checking account.",
             "I need to close my savings account today", "Close it.", "Close it now."]
    norms = [near_text(t) for t in texts]
    assert jaccard(norms[0], norms[1], 5) < 0.8  # the n-gram test alone misses this pair
    keys = [(k, i) for i, t in enumerate(norms) for k in edit_keys(t, 12)]
    assert not edit_keys(norms[3], 12)  # under 4 words: too short to judge
    res = cluster(len(texts), np.ones(len(texts), dtype=bool), np.arange(len(texts)), "remove",
                  [edit_matcher(np.array([k for k, _ in keys]), np.array([i for _, i in keys]), norms.__getitem__)])
    assert res.status.tolist() == [0, 2, 0, 0, 0]  # "savings ... today" is two words away
    assert within_one_word("a b c d", "a x c d") and within_one_word("a b c d", "a b c")
    assert not within_one_word("a b c d", "b c d e")
