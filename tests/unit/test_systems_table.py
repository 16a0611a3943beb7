"""The evaluated-systems table and the typed gate results (systems and gates as data)."""

from __future__ import annotations

import typing

from tailorlm.evaluate.baselines import FINE_TUNED, NO_LLM, USES_RAG
from tailorlm.results import GateResult, deciding_gates
from tailorlm.spec.evaluate import ALL_SYSTEMS, System
from tailorlm.systems import SYSTEMS, needs_trained_model


def test_the_spec_accepts_exactly_the_systems_of_the_table():
    assert typing.get_args(System) == tuple(SYSTEMS) == ALL_SYSTEMS


def test_the_planner_groups_come_from_the_table():
    assert FINE_TUNED == ("fine_tuned", "fine_tuned_rag")
    assert USES_RAG == ("rag", "fine_tuned_rag")
    assert NO_LLM == ("classical",)


def test_train_is_needed_only_for_a_system_with_trained_weights():
    assert not needs_trained_model(["base", "few_shot", "classical", "rag"])
    assert needs_trained_model(["base", "fine_tuned_rag"])


def test_deciding_gates_are_typed_and_leave_baseline_gates_out():
    stored = {"base": [{"criterion": "accuracy >= 0.5", "metric": "accuracy", "op": ">=", "threshold": 0.5,
                        "value": 0.2, "passed": False}],
              "fine_tuned": [{"criterion": "accuracy >= base + 0.1", "metric": "accuracy", "op": ">=",
                              "threshold": 0.3, "value": 0.9, "passed": True, "reference_system": "base",
                              "offset": 0.1}],
              "safety": [{"criterion": "canary_exposure <= 0", "metric": "canary_exposure", "op": "<=",
                          "threshold": 0, "value": 1, "passed": False}]}
    gates = deciding_gates(stored)
    assert [(g.check, g.passed) for g in gates] == [("fine_tuned", True), ("safety", False)]
    assert isinstance(gates[0], GateResult) and (gates[0].metric, gates[0].value) == ("accuracy", 0.9)
    # the row form is the stored dict plus the check's name, as `models show` printed it before
    assert gates[0].as_row() == {**stored["fine_tuned"][0], "system": "fine_tuned"}
