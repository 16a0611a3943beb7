"""Which sentences NER reads (tailorlm.privacy.pii_gate), and that skipping the others changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailorlm.privacy import pii as pii_mod
from tailorlm.privacy.pii import Scrubber
from tailorlm.privacy.pii_eval import load_labelled
from tailorlm.privacy.pii_gate import needs_ner, ner_segments
from tailorlm.spec.data import PIISpec

LABELLED = Path(__file__).parents[1] / "fixtures" / "pii" / "labelled.jsonl"


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber.from_spec(PIISpec())


@pytest.mark.parametrize("text", [
    "someone used my card 6715457637848 without asking, block it",  # lower case, no name, no place word
    "i need to change my card",  # "to change": an everyday word after the place word
    "MY CARD IS BLOCKED, PLEASE HELP",  # capitals: read as lower case
    "Dear <CUSTOMER_NAME>, your order <ORDER_ID> has shipped.",  # words inside template slots
    "Age: 34\nDate of birth: 12/03/1990",  # form keys
    "Card number: 4111 1111 1111 1111, SWIFT ref DE89370400440532013000",  # interface words, a generic term, ids
    "Good morning,\nMy card is gone.",
])
def test_texts_where_no_kept_span_can_come_from_ner_are_not_read(text):
    assert not needs_ner(text)
    assert ner_segments(text) == []


@pytest.mark.parametrize("text", [
    "i met john smith at the branch",  # a lexicon first name in lower case
    "i moved to lyon last week",  # a place word before a word that is not everyday vocabulary
    "PLEASE HELP, JOHN SMITH HERE",
    "Nationality: German",  # the value beside a form key is judged on its own
    "Dear Ms Okafor, your order <ORDER_ID> has shipped.",
])
def test_texts_with_a_candidate_are_read(text):
    assert needs_ner(text)
    assert ner_segments(text) == [(0, len(text))]


def test_uncased_text_is_read_only_around_its_candidate_sentence():
    text = "my card is gone. i tried twice. it broke. i called amara lee. thank you."
    [(a, b)] = ner_segments(text)
    assert text[a:b] == "it broke. i called amara lee. thank you."


def test_skipped_sentences_change_no_result(scrubber, monkeypatch):
    """On the labelled set the scrubber finds the same spans as when NER reads every text whole."""
    texts = [r["text"] for r in load_labelled(LABELLED)]
    gated = scrubber.analyze(texts)
    monkeypatch.setattr(pii_mod, "ner_segments", lambda t: [(0, len(t))] if t.strip() else [])
    whole = scrubber.analyze(texts)
    assert sum(map(len, gated)) > 100
    assert [[(r.entity_type, r.start, r.end) for r in p] for p in gated] == \
           [[(r.entity_type, r.start, r.end) for r in p] for p in whole]
