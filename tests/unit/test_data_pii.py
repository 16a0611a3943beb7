"""PII scrubbing: placeholders, custom recognizers, recall on the labelled set, no network."""

from __future__ import annotations

import json
import socket
import warnings
from pathlib import Path

import pytest

from tailorlm.privacy import pii as pii_mod
from tailorlm.privacy.pii import Scrubber, ner_segments, needs_ner
from tailorlm.privacy.pii_address import address_recognizers
from tailorlm.privacy.pii_eval import load_labelled, score
from tailorlm.spec.data import CustomRecognizer, PIISpec

LABELLED = Path(__file__).parents[1] / "fixtures" / "pii" / "labelled.jsonl"
ACCOUNT = [
    CustomRecognizer(name="nwb_prefixed", entity="ACCOUNT_NUMBER", pattern=r"\bNWB-\d{8}\b", score=0.9),
    CustomRecognizer(name="nwb_context", entity="ACCOUNT_NUMBER", pattern=r"\b\d{8,10}\b",
                     context=["account", "acct"], score=0.4),
]


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber.from_spec(PIISpec(custom=ACCOUNT))


def test_typed_placeholders_are_consistent_within_a_record(scrubber):
    fields = ["Hi, I'm Sarah Connor. You can write to sarah.connor@example.com or call (212) 555-0147.",
              "Sarah Connor again: card 4111 1111 1111 1111, account NWB-12345678."]
    [(texts, counts)] = scrubber.scrub_records([fields])
    assert texts[0] == "Hi, I'm <PERSON_1>. You can write to <EMAIL_ADDRESS_1> or call <PHONE_NUMBER_1>."
    assert texts[1].startswith("<PERSON_1> again") and "<CREDIT_CARD_1>" in texts[1]
    assert "<ACCOUNT_NUMBER_1>" in texts[1]
    assert counts["PERSON"] == 2 and counts["ACCOUNT_NUMBER"] == 1


def test_one_placeholder_for_a_value_whatever_its_case_within_a_record(scrubber):
    """The support workload's customer signs "aisha" and the answer greets "Aisha": one person, one
    placeholder (they were <PERSON_1> and <PERSON_2>, so the answer's name could not be learnt)."""
    fields = ["please cancel purchase 3406303501 for the yoga mat. regards, aisha",
              "Hello Aisha, I understand you'd like to cancel purchase 3406303501."]
    [(texts, _)] = scrubber.scrub_records([fields])
    assert texts[0].endswith("regards, <PERSON_1>") and texts[1].startswith("Hello <PERSON_1>,"), texts


def test_numbering_restarts_per_record_and_counts_distinct_values(scrubber):
    out = scrubber.scrub_records([["Mail a@example.com and b@example.org, then a@example.com"],
                                  ["Mail c@example.com"]])
    assert out[0][0][0] == "Mail <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_2>, then <EMAIL_ADDRESS_1>"
    assert out[1][0][0] == "Mail <EMAIL_ADDRESS_1>"


def test_context_words_gate_the_bare_account_pattern(scrubber):
    [(with_ctx, _), (without, _)] = scrubber.scrub_records([["my account number is 12345678"],
                                                            ["the parcel weighs 12345678 grams"]])
    assert with_ctx == ["my account number is <ACCOUNT_NUMBER_1>"]
    assert without == ["the parcel weighs 12345678 grams"]


def test_signature_names_and_allow_list():
    s = Scrubber.from_spec(PIISpec(allow=["Northwind"]))
    [(texts, _)] = s.scrub_records([["Northwind lost my card again.\n\nKind regards,\nChloe Friedman",
                                     "please reverse the fee. - Jamal Fitzgerald"]])
    assert texts[0].startswith("Northwind lost") and texts[0].endswith("<PERSON_1>")
    assert texts[1].endswith("- <PERSON_2>")


def test_recall_on_the_labelled_set(scrubber):
    records = load_labelled(LABELLED)
    res = score(records, scrubber.analyze([r["text"] for r in records]))
    assert res["gold_spans"] > 250
    assert res["recall"] >= 0.9, res["per_type"]
    for t in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "ACCOUNT_NUMBER"):
        assert res["per_type"][t]["recall"] == 1.0, t


def test_needs_ner_prefilter():
    assert needs_ner("I spoke to Amara at the branch")
    assert needs_ner("John called me")
    assert needs_ner("all lower case from maria")  # uncased writers always get NER
    assert not needs_ner("The card is gone. I need a new one.")
    assert not needs_ner("Hi, my card is blocked. Thanks!")


def test_ner_reads_candidate_sentences_with_their_neighbours():
    text = "Hello there,\n\nMy card is gone. I tried twice. It was at the mall. I called Amara Lee. Thank you."
    [(a, b)] = ner_segments(text)
    assert text[a:b] == "It was at the mall. I called Amara Lee. Thank you."
    assert ner_segments("The card is gone. I need a new one.") == []
    assert ner_segments("all lower case from maria") == [(0, 25)]  # uncased: read whole
    two = "Amara here. a. b. c. d. e. Paid Tesco."
    assert [two[a:b] for a, b in ner_segments(two)] == ["Amara here. a.", "e. Paid Tesco."]


def test_sentence_level_ner_finds_what_whole_text_ner_finds(scrubber):
    """The same entities as NER over the whole text, on messages with several sentences."""
    texts = ["Good afternoon,\n\nI need a loan. My credit score is 655.\n\nBest regards,\nCarmen Bergström",
             "I'm moving next week. I don't want statements at the old place. Email me at h.reyes@example.net.",
             "Hey there. my card fell out somewhere in Seoul. I searched twice. Thanh Adeyemi",
             "I moved last month. My card went to 42 Elm Street, Springfield, IL 62704. Please resend it."]
    engine = scrubber.nlp_engine
    whole = [engine._doc_to_nlp_artifact(d, "en") for d in engine.nlp["en"].pipe([pii_mod.ner_view(t) for t in texts])]
    arts = engine.artifacts(texts)

    def ents(a):  # the scrubber's NER entities; DATE_TIME is not among them
        return [(e.start_char, e.end_char, e.label_) for e in a.entities if e.label_ in scrubber.entities]

    assert [ents(a) for a in arts] == [ents(a) for a in whole]
    assert any(e.label_ == "PERSON" for e in arts[0].entities)


def test_dates_make_ner_read_every_sentence():
    s = Scrubber.from_spec(PIISpec(entities=["PERSON", "DATE_TIME"]))
    [found] = s.analyze(["Hi, I'm moving next week. Thanks!"])
    assert [r.entity_type for r in found] == ["DATE_TIME"]


def test_scrubbing_opens_no_socket(monkeypatch):
    opened = []

    def guard(*args, **kwargs):
        opened.append(args)
        raise OSError("network access during PII scrubbing")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket, "create_connection", guard)
    monkeypatch.setattr(socket, "getaddrinfo", guard)
    s = Scrubber(["EMAIL_ADDRESS", "URL", "PERSON"])  # a fresh one: tldextract set up under the guard
    [(texts, _)] = s.scrub_records([["write to jane.doe@example.co.uk or see https://example.org/help"]])
    assert "<EMAIL_ADDRESS_1>" in texts[0]
    assert opened == []


def test_missing_ner_model_warns_and_still_scrubs_patterns(monkeypatch):
    monkeypatch.setattr(pii_mod, "spacy_model_path", lambda package=pii_mod.SPACY_PACKAGE: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = Scrubber(["PERSON", "EMAIL_ADDRESS"])
    assert any("PERSON, ORGANIZATION, LOCATION" in str(w.message) and "NOT detected" in str(w.message)
               for w in caught)
    assert not s.has_ner
    [(texts, _)] = s.scrub_records([["John Smith <john@example.com>"]])
    assert "<EMAIL_ADDRESS_1>" in texts[0]


def test_labelled_set_offsets_match_values():
    for rec in load_labelled(LABELLED):
        for sp in rec["spans"]:
            assert rec["text"][sp["start"]:sp["end"]] == sp["value"], json.dumps(rec)


def test_long_texts_are_analyzed_in_chunks_with_true_offsets(scrubber, monkeypatch):
    from tailorlm.privacy.pii import chunk_text

    monkeypatch.setattr(pii_mod, "CHUNK_CHARS", 2_000)  # the real size is 50k characters
    filler = "The card is gone and I need a new one. " * 60  # ~2.3k characters
    text = filler + "Write to Zoe Lane at zoe.lane@example.com please. " + filler
    pieces = chunk_text(text, 2_000)
    assert len(pieces) == 3 and "".join(p for _, p in pieces) == text
    assert all(text[off:off + len(p)] == p for off, p in pieces)
    [found] = scrubber.analyze([text])
    assert sorted(text[r.start:r.end] for r in found) == ["Zoe Lane", "zoe.lane@example.com"]


def test_debug_logging_never_shows_record_text(scrubber, caplog):
    import logging

    with caplog.at_level(logging.DEBUG):
        scrubber.scrub_records([["please phone me, my email is kim.park@example.com"]])
    assert "kim.park@example.com" not in caplog.text


@pytest.mark.parametrize("text, address", [
    ("Please send it to 42 Elm Street, Springfield, IL 62704.", "42 Elm Street, Springfield, IL 62704"),
    ("The office is at 1600 Pennsylvania Avenue NW, Washington, DC 20500",
     "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ("Ship to 221B Baker Street, London NW1 6XE, UK please", "221B Baker Street, London NW1 6XE, UK"),
    ("My new address: 350 5th Avenue, Suite 200, New York, NY 10118", "350 5th Avenue, Suite 200, New York, NY 10118"),
    ("Flat 3, 12 High Street\nLeeds LS1 4AP", "Flat 3, 12 High Street\nLeeds LS1 4AP"),
    ("100 West 57th St., Apt 4B, New York, NY 10019-1234 is my home",
     "100 West 57th St., Apt 4B, New York, NY 10019-1234"),
    ("Mail me at PO Box 1234, Austin, TX 78701", "PO Box 1234, Austin, TX 78701"),
    ("It was delivered to 7 Oak Rd, then lost", "7 Oak Rd"),
])
def test_address_recognizers_find_the_whole_address(text, address):
    spans = [(r.start, r.end, r.score) for rec in address_recognizers()
             for r in rec.analyze(text, ["STREET_ADDRESS", "POSTCODE"])]
    start, end, score = max(spans, key=lambda s: (s[2], s[1] - s[0]))
    assert text[start:end] == address and score >= 0.85


@pytest.mark.parametrize("text", ["I paid 42 dollars on the 3rd and it came back",
                                  "transfer 500 to account 12345678",
                                  "I was charged 12345 points for 3 Main items",
                                  "the branch on 5th Avenue was closed"])
def test_address_recognizers_leave_other_numbers_alone(text):
    """Nothing at or above the 0.5 threshold without a context word (a bare 5 digits scores 0.2)."""
    assert all(r.score < 0.5 for rec in address_recognizers() for r in rec.analyze(text, ["STREET_ADDRESS", "POSTCODE"]))


@pytest.mark.parametrize("text, expected", [
    ("Please send it to 42 Elm Street, Springfield, IL 62704.", "Please send it to <STREET_ADDRESS_1>."),
    ("The office is at 1600 Pennsylvania Avenue NW, Washington, DC 20500", "The office is at <STREET_ADDRESS_1>"),
    ("i live at 42 elm street now", "i live at <STREET_ADDRESS_1> now"),  # lower case: "live" counts
    ("my zip is 62704 and the card is blocked", "my zip is <POSTCODE_1> and the card is blocked"),
    ("order 62704 arrived broken", "order 62704 arrived broken"),  # a bare ZIP needs a context word
])
def test_addresses_become_one_placeholder(scrubber, text, expected):
    """NER's pieces (Springfield, IL) lose to the whole-address span: no house number or ZIP leaks."""
    [((out,), counts)] = scrubber.scrub_records([[text]])
    assert out == expected
    assert sum(counts.values()) == expected.count("<")


def test_numbers_near_streets_are_not_addresses(scrubber):
    """"42 dollars on Main Street" has no house number: the amount stays (NER may still take the street)."""
    text = "I paid 42 dollars on Main Street"
    [found] = scrubber.analyze([text])
    assert all(r.start >= text.index("Main") for r in found)
    [((acct,), _)] = scrubber.scrub_records([["transfer 500 to account 12345678"]])
    assert acct == "transfer 500 to account <ACCOUNT_NUMBER_1>"


def test_addresses_are_found_without_the_ner_model():
    s = Scrubber(["STREET_ADDRESS"], ner=False)
    assert not s.has_ner
    [((out,), _)] = s.scrub_records([["Ship to 221B Baker Street, London NW1 6XE, UK please"]])
    assert out == "Ship to <STREET_ADDRESS_1> please"


@pytest.mark.parametrize("span, allow, keep", [
    ("x3", (), False),                           # no word of two letters: not a place
    ("ATM", (), False), ("atm", (), False),      # everyday terms, not organisations
    ("Northwind Savings Plus", ("Northwind",), False),  # the company's own product
    ("Northwind Bank", ("northwind",), False),
    ("Northwinds Group", ("Northwind",), True),  # whole words only
    ("Acme Corp", ("Northwind",), True),
    ("Łukasz Nowak", (), True),                  # letters in any script
])
def test_plausible_ner_span(span, allow, keep):
    assert pii_mod.plausible_ner_span(span, allow) is keep


def test_generic_terms_and_allowed_products_are_not_redacted_but_names_are():
    s = Scrubber.from_spec(PIISpec(allow=["Northwind"]))
    texts = ["my card was declined at the ATM", "How much is in my Northwind Savings Plus account?",
             "overdraft fees x3 refund pls", "Hi, I am Laura Palmer from Acme Corp in Springfield."]
    found = [[(r.entity_type, t[r.start:r.end]) for r in rs] for t, rs in zip(texts, s.analyze(texts))]
    assert found[:3] == [[], [], []]
    assert found[3] == [("PERSON", "Laura Palmer"), ("ORGANIZATION", "Acme Corp"), ("LOCATION", "Springfield")]
