"""Hallucination flags, compliance rules, gates, ROI arithmetic and BM25 retrieval on plain inputs."""

from __future__ import annotations

import json

import pytest

from tailorlm.evaluate import compliance as C
from tailorlm.evaluate import hallucination as H
from tailorlm.evaluate.gates import all_passed, evaluate_gates
from tailorlm.evaluate.roi import compute_roi, cost_per_1k
from tailorlm.spec.evaluate import ComplianceSpec, PricingSpec


# --- hallucination ------------------------------------------------------------------------------

def test_classification_hallucination_is_an_answer_outside_the_label_set():
    labels = ["card_lost", "check_balance"]
    flags = H.hallucination_flags("classification", ["Card_Lost.", "refund_please", ""], labels, ["", "", ""])
    assert [f for f, _ in flags] == [False, True, True]
    assert "refund_please" in flags[1][1][0]
    assert flags[2][1] == ["empty answer"]


def test_numbers_are_canonical():
    assert H.numbers("Pay $1,200.50 or 15% by 3") == {"1200.5", "15", "3"}


def test_generation_flags_unsupported_number_and_entity():
    support = "Your card ending 4242 was blocked. Reference: the card was blocked on request."
    ok, bad = H.generation_flags(
        ["Your card ending 4242 was blocked.", "Your card ending 9999 was blocked by John Smith in Paris."],
        [support, support],
    )
    assert ok == (False, [])
    assert bad[0] is True
    reasons = " | ".join(bad[1])
    assert "number: 9999" in reasons
    assert "john smith" in reasons and "paris" in reasons


def test_generation_empty_answer_makes_no_claim():
    assert H.generation_flags([""], ["anything"]) == [(False, [])]


def test_unicode_claims_are_matched_after_normalization():
    # "Zürich" in the answer is supported by "ZÜRICH" in the support (case-folded, Unicode kept).
    assert H.unsupported_claims("Branch Zürich opens at 9", "ZÜRICH branch, opens 9 am") == []


# --- compliance ---------------------------------------------------------------------------------

def test_spec_rules_flag_each_violation():
    spec = ComplianceSpec(forbidden=[r"guarantee[sd]?"], required=["not financial advice"], max_chars=40, pii=False)
    rules = C.build_rules(spec)
    answers = ["We guarantee returns. Not financial advice.", "Fine answer. not financial advice",
               "x" * 41 + " not financial advice"]
    flags = C.check_answers(answers, [{}] * 3, rules)
    assert flags[0] == ["forbidden:guarantee[sd]?: contains forbidden pattern 'guarantee[sd]?' ('guarantee')",
                        "max_chars: 43 characters, over the limit of 40"]
    assert flags[1] == []
    assert [f.split(":")[0] for f in flags[2]] == ["max_chars"]
    summary = C.summarize(flags, ["a", "b", "c"])
    assert summary["max_chars"]["count"] == 2
    assert [e["id"] for e in summary["max_chars"]["examples"]] == ["a", "c"]


def test_summary_keeps_rule_names_that_contain_colon_space():
    rules = C.build_rules(ComplianceSpec(forbidden=["Note: guaranteed"], pii=False))
    flags = C.check_answers(["note: guaranteed returns", "fine"], [{}, {}], rules)
    summary = C.summarize(flags, ["a", "b"], rule_names=list(rules))
    assert list(summary) == ["forbidden:Note: guaranteed"] and summary["forbidden:Note: guaranteed"]["count"] == 1


def test_required_rule_flags_missing_disclaimer():
    rule = C.required_rule("disclaimer")
    assert rule("no such text", {}) == "missing required pattern 'disclaimer'"
    assert rule("DISCLAIMER: ...", {}) is None


def test_invalid_regex_is_a_spec_error():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        ComplianceSpec(forbidden=["(unclosed"])


def test_unknown_custom_rule_names_the_entry_point_group():
    with pytest.raises(C.ComplianceError, match="tailorlm.compliance_rules"):
        C.build_rules(ComplianceSpec(custom=["does_not_exist"], pii=False))


def test_custom_rule_from_entry_point(monkeypatch):
    from importlib.metadata import EntryPoint

    ep = EntryPoint(name="no_caps", value="tests.unit.test_eval_flags:_no_caps", group=C.ENTRY_POINT_GROUP)
    monkeypatch.setattr(C, "entry_points", lambda group: [ep] if group == C.ENTRY_POINT_GROUP else [])
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parents[2]))
    rules = C.build_rules(ComplianceSpec(custom=["no_caps"], pii=False))
    assert C.check_answers(["SHOUTING", "calm"], [{}, {}], rules) == [["custom:no_caps: all caps"], []]


def _no_caps(answer: str, example: dict) -> str | None:
    return "all caps" if answer.isupper() else None


def test_pii_in_output_uses_the_data_scrubber():
    from tailorlm.spec.data import PIISpec

    found = C.pii_findings(["card_lost", "mail me at jane.doe@example.com"], PIISpec(entities=["EMAIL_ADDRESS"]))
    assert found[0] == []
    assert found[1] == ["EMAIL_ADDRESS: jane.doe@example.com"]


# --- gates and ROI ------------------------------------------------------------------------------

def test_gates_pass_fail_and_missing_metric():
    gates = evaluate_gates(["accuracy >= 0.85", "p95_latency_ms <= 800", "macro_f1 > 0.5"],
                           {"accuracy": 0.9, "p95_latency_ms": 812.0})
    assert [g["passed"] for g in gates] == [True, False, False]
    assert gates[0] == {"criterion": "accuracy >= 0.85", "metric": "accuracy", "op": ">=", "threshold": 0.85,
                        "value": 0.9, "passed": True}
    assert gates[2]["value"] is None
    assert not all_passed(gates)
    assert all_passed([])


def test_roi_hand_computed():
    pricing = PricingSpec(per_1k_prompt_tokens=0.5, per_1k_completion_tokens=1.0, hourly_rate=3.0,
                          requests_per_month=10_000)
    systems = {
        "few_shot": {"accuracy": 0.5, "mean_prompt_tokens": 300.0, "mean_completion_tokens": 6.0,
                     "p50_latency_ms": 100.0, "p95_latency_ms": 200.0},
        "fine_tuned": {"accuracy": 0.9, "mean_prompt_tokens": 100.0, "mean_completion_tokens": 4.0,
                       "p50_latency_ms": 50.0, "p95_latency_ms": 150.0},
    }
    # 300 * 0.5 + 6 * 1.0 = 156 per 1k requests; 100 * 0.5 + 4 = 54.
    assert cost_per_1k(systems["few_shot"], pricing) == pytest.approx(156.0)
    roi = compute_roi(systems, "classification", pricing, {"wall_seconds": 1800})
    vs = roi["vs"]["few_shot"]
    assert vs["quality_gain"] == pytest.approx(0.4)
    assert vs["tokens_per_request_saved"] == pytest.approx(202.0)
    assert vs["p95_latency_change_ms"] == pytest.approx(-50.0)
    assert vs["p95_latency_change_pct"] == pytest.approx(-25.0)
    assert vs["monthly_saving"] == pytest.approx(102.0 / 1000 * 10_000)
    assert roi["training_cost"] == pytest.approx(1.5)  # half an hour at 3.0/h
    assert roi["payback_months"] == pytest.approx(1.5 / 1020.0)


def test_roi_without_fine_tuned_system_has_no_comparison():
    roi = compute_roi({"base": {"mean_prompt_tokens": 10.0}}, "classification", PricingSpec(), None)
    assert roi["vs"] == {} and roi["training_cost"] == 0.0 and roi["payback_months"] is None


# --- retrieval ----------------------------------------------------------------------------------

def _row(i, text, label):
    return {"id": f"r{i}", "prompt": json.dumps([{"role": "user", "content": text}]), "completion": label}


def test_bm25_retrieves_lexical_neighbours_and_never_the_example_itself():
    from tailorlm.rag import Retriever

    train = [_row(0, "I lost my debit card yesterday", "card_lost"),
             _row(1, "what is my savings balance", "check_balance"),
             _row(2, "send money to my landlord", "transfer_money"),
             _row(3, "my card was stolen at the mall", "card_lost")]
    r = Retriever.from_training(train, k=2)
    hits = r.for_example(_row(9, "lost card, stolen?", "?"))
    assert [p.id for p in hits] == ["r0", "r3"] or [p.id for p in hits] == ["r3", "r0"]
    assert hits[0].text.endswith("-> card_lost")
    own = r.for_example(train[1])
    assert "r1" not in [p.id for p in own] and len(own) == 2


def test_document_folder_is_chunked(tmp_path):
    from tailorlm.rag import passages_from_folder

    (tmp_path / "a.md").write_text("First paragraph about fees.\n\nSecond paragraph about cards.\n", encoding="utf-8")
    passages = passages_from_folder(tmp_path, max_chars=30)
    assert [p.id for p in passages] == ["a.md#0", "a.md#1"]
    with pytest.raises(ValueError, match="no .txt or .md"):
        passages_from_folder(tmp_path / "a.md")


def test_few_shot_picks_distinct_short_labels():
    from tailorlm.evaluate.baselines import select_shots

    train = [_row(0, "lost card long long message", "card_lost"), _row(1, "lost", "card_lost"),
             _row(2, "balance?", "check_balance"), _row(3, "send", "transfer_money")]
    for r, lab in zip(train, ["card_lost", "card_lost", "check_balance", "transfer_money"]):
        r["label"] = lab
    shots = select_shots(train, 3, "classification", seed=0)
    assert sorted(s["label"] for s in shots) == ["card_lost", "check_balance", "transfer_money"]
    assert "r0" not in [s["id"] for s in shots]  # the shorter card_lost example wins
    assert select_shots(train, 0, "classification") == []


def test_label_answers_are_not_scanned_for_pii():
    from types import SimpleNamespace

    from tailorlm.evaluate.scoring import pii_flags
    from tailorlm.spec.data import PIISpec

    spec = SimpleNamespace(eval=SimpleNamespace(compliance=ComplianceSpec(pii=True)),
                           data=SimpleNamespace(pii=PIISpec(entities=["PERSON", "EMAIL_ADDRESS"])))
    notes: list[str] = []
    found = pii_flags(spec, ["Loan_Inquiry", "write to ann.lee@example.org"], ["loan_inquiry"], notes)
    assert found == [[], ["EMAIL_ADDRESS: ann.lee@example.org"]]
    spec.eval.compliance = ComplianceSpec(pii=False)
    assert pii_flags(spec, ["x"], [], notes) is None


def test_criterion_on_a_metric_the_task_does_not_report_fails_spec_check(tmp_path):
    from tailorlm.spec import SpecError, load_spec

    (tmp_path / "tailor.yaml").write_text(
        "project: p\nobjective:\n  task: classification\n  criteria: ['rougeL >= 0.5', 'acuracy >= 0.8']\n"
        "data:\n  sources: [{path: x.jsonl}]\n")
    with pytest.raises(SpecError) as err:
        load_spec(tmp_path / "tailor.yaml", check_files=False)
    msg = str(err.value)
    assert "metric 'rougeL' does not apply to task 'classification'" in msg
    assert "Did you mean 'accuracy'?" in msg


def test_eval_spec_rejects_duplicate_or_empty_systems():
    from pydantic import ValidationError

    from tailorlm.spec.evaluate import EvalSpec

    with pytest.raises(ValidationError, match="listed twice"):
        EvalSpec(systems=["base", "base"])
    with pytest.raises(ValidationError, match="at least one system"):
        EvalSpec(systems=[])


# --- generation budget ----------------------------------------------------------------------------

class _WordTokenizer:
    """One token per word: enough to check the automatic budget's arithmetic."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [t.split() for t in texts]}

    def encode(self, text, add_special_tokens=False):
        return text.split()


def _gen_spec(tmp_path, **extra):
    from tailorlm.spec import parse_spec

    return parse_spec({"project": "g", "data": {"sources": [{"path": "x.jsonl"}], "max_seq_len": 300, **extra},
                       "objective": {"task": "generation"}}, tmp_path)


def test_automatic_generation_budget_follows_the_training_answers(tmp_path):
    from tailorlm.evaluate.runner import max_new_tokens

    tok = _WordTokenizer()
    spec = _gen_spec(tmp_path)
    answers = ["w " * n for n in range(1, 201)]  # 1..200 words: 99th percentile 199
    assert max_new_tokens(spec, tok, [], answers) == 239  # 1.2 x 199, rounded up: long answers are not cut
    assert max_new_tokens(spec, tok, [], ["short answer"]) == 32  # at least 32
    assert max_new_tokens(spec, tok, [], ["w " * 1000]) == 300  # at most data.max_seq_len
    assert max_new_tokens(spec, tok, [], []) == 128  # no training answers
