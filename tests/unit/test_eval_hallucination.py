"""The generation hallucination metric: what counts as a claim, and its precision/recall on the labelled set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailorlm.evaluate import faithfulness as F
from tailorlm.evaluate import hallucination as H

FAITH = Path(__file__).parents[1] / "fixtures" / "faithfulness"
INPUT = "I want to cancel order {{Order Number}}, how do I do that?"
REFERENCE = ("I understand you want to cancel order {{Order Number}}. Sign in to {{Website Name}}, go to "
             "'My Orders', select the order and click 'Cancel Order'. If the order has already shipped, you "
             "can return it within 30 days for a refund.")


def flag(answer: str, support=(INPUT, REFERENCE)) -> tuple[bool, list[str]]:
    return H.generation_flags([answer], [list(support)])[0]


def test_a_faithful_paraphrase_of_the_reference_is_not_hallucinated():
    answer = ("Sure, I can help with that. To cancel order {{Order Number}}, log in to {{Website Name}}, open "
              "'My Orders', pick the order and choose 'Cancel Order'. Already shipped? Then you can send it "
              "back within 30 days and get a refund. Feel free to share any other relevant details or questions.")
    assert flag(answer) == (False, [])


def test_an_invented_amount_is_hallucinated():
    answer = ("To cancel order {{Order Number}}, sign in to {{Website Name}} and click 'Cancel Order'. "
              "A cancellation fee of $15 applies.")
    flagged, reasons = flag(answer)
    assert flagged and reasons == ["number: 15"]


def test_ordinary_phrasing_makes_no_claim():
    # The old metric flagged "phrase: other relevant details" and "phrase: questions" on good answers.
    answer = "Please include the other relevant details, and let us know if you have any further questions."
    assert H.claims(answer) == []


@pytest.mark.parametrize("answer, reason", [
    ("To cancel order 5512093, click 'Cancel Order'.", "number: 5512093"),
    ("Use code WELCOME20 at checkout.", "id: welcome20"),
    ("Email us at help@shop-mail.com.", "contact: help@shop-mail.com"),
    ("It will arrive on Thursday.", "date: thursday"),
    ("Our agent Karen Holt will call you.", "entity: karen holt"),
    ("We will send a free replacement.", "policy: free"),
])
def test_each_kind_of_invented_claim_is_flagged(answer, reason):
    assert reason in flag(answer)[1]


def test_slots_are_not_claims_but_a_value_in_place_of_a_slot_is():
    assert flag("Your order {{Order Number}} ships from <WAREHOUSE> to [name].") == (False, [])
    assert H.strip_slots("order {{Order Number}} for [name]") == "order   for  "
    assert flag("Your order ORD-7731 is on its way.")[1] == ["id: ord-7731"]


def test_numbers_may_come_from_the_input_and_in_words():
    support = ["My bill is $84 instead of $60", "Refunds take 5-7 business days."]
    assert flag("Your $84 bill will be refunded within five to seven business days.", support) == (False, [])
    assert H.numbers("twenty days, 3 items, $1,200.50") == {"20", "3", "1200.5"}


def test_regex_fallback_still_catches_a_name(monkeypatch):
    monkeypatch.setattr(H, "_nlp", lambda: None)
    flagged, reasons = flag("Tracking can pause, and your parcel is with Leipzig Hub now.")
    assert flagged and reasons == ["entity: leipzig hub"]


def test_precision_and_recall_on_the_held_out_labelled_set():
    rows = F.load_labelled(FAITH / "heldout.jsonl")
    assert len(rows) == 80 and sum(r["faithful"] for r in rows) == 40
    score = F.score_labelled(rows)
    assert score["precision"] >= 0.8 and score["recall"] >= 0.8, score["errors"]
    assert score["tp"] + score["fp"] + score["fn"] + score["tn"] == 80


def test_labelled_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"input": "a", "reference": "b", "answer": "c", "faithful": true}\n{"input": "a"}\n')
    with pytest.raises(ValueError, match=r"x.jsonl:2: missing reference, answer, faithful"):
        F.load_labelled(bad)


def test_training_answers_back_capitalized_team_and_screen_names_but_not_numbers():
    answer = ("Please reach out to our Customer Support team via Live Chat, or select Edit Address. "
              "Our agent Karen Holt adds a $20 voucher.")
    support = ["I need to change my address", "Sign in and change the address in your account."]
    vocab = H.answer_vocabulary(["Our {{Customer Support}} team and live chat are here; choose 'Edit Address'.",
                                 "You get a $20 voucher.", "Customer support can help."])
    names = ["entity: customer support", "entity: live chat", "entity: edit address"]
    assert set(names) <= set(flag(answer, support)[1])  # NER reads them as names: flagged without it
    # Backed by the training answers; the invented person, amount and voucher stay claims.
    assert H.generation_flags([answer], [support], vocab)[0][1] == [
        "number: 20", "entity: karen holt", "policy: compensation"]
