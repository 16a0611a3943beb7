"""The declarative stage table: what ``run_pipeline(until=...)`` runs for a spec."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tailorlm.pipeline import STAGE_TABLE, STAGES, plan


def _spec(*systems: str):
    return SimpleNamespace(eval=SimpleNamespace(systems=list(systems)))


def test_the_table_lists_the_stages_in_pipeline_order():
    assert STAGES == ("data", "train", "eval", "register") == tuple(s.name for s in STAGE_TABLE)


def test_a_stage_runs_with_everything_it_needs_in_table_order():
    spec = _spec("base", "fine_tuned")
    assert plan(spec, "data") == ["data"]
    assert plan(spec, "train") == ["data", "train"]
    assert plan(spec, "eval") == ["data", "train", "eval"]
    assert plan(spec, "register") == ["data", "train", "eval", "register"]


def test_eval_without_a_fine_tuned_system_does_not_train():
    assert plan(_spec("base", "few_shot", "classical", "rag"), "eval") == ["data", "eval"]
    assert plan(_spec("base", "fine_tuned_rag"), "eval") == ["data", "train", "eval"]


def test_register_always_trains():
    assert plan(_spec("base"), "register") == ["data", "train", "eval", "register"]


def test_an_unknown_stage_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="data, train, eval, register"):
        plan(_spec("base"), "deploy")
