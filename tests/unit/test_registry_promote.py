"""Aliases and gated promotion: failing criteria are named, --force needs --reason, overrides are audited."""

from __future__ import annotations

import pytest
from test_registry_helpers import fake_dataset, fake_eval, fake_run, project, store_url  # noqa: F401

from tailorlm.registry import PromotionRefused, RegistryError, audit, promote, register_model, resolve, set_alias
from tailorlm.registry.aliases import gate_results


def _register(spec, ws, evaluation, run_id="run-1"):
    return register_model(spec, ws, fake_dataset(spec, ws, f"ds-{run_id}"), fake_run(ws, run_id), evaluation)


def test_promotion_of_a_passing_version_moves_the_alias(project):
    spec, ws = project
    _register(spec, ws, fake_eval(accuracy=0.91))
    row = promote(ws, "support-bot@1", "production", actor="carol")
    assert row["action"] == "promote" and row["actor"] == "carol"
    assert row["details"]["to"] == "production" and row["details"]["forced"] is False
    assert {g["criterion"] for g in row["details"]["gates"]} == {"accuracy >= 0.8", "p95_latency_ms <= 1500"}
    assert resolve(ws, "support-bot@production").version == 1
    # The alias move itself is audited too, right before the promotion.
    assert [r["action"] for r in audit.rows(ws)][-2:] == ["alias.set", "promote"]


def test_failing_criterion_is_refused_with_name_value_threshold(project):
    spec, ws = project
    _register(spec, ws, fake_eval(accuracy=0.62))
    with pytest.raises(PromotionRefused) as exc:
        promote(ws, "support-bot@1", "production")
    msg = str(exc.value)
    assert "accuracy >= 0.8" in msg and "value 0.62" in msg and "threshold >= 0.8" in msg
    assert "p95_latency_ms" not in msg  # only the failing one is named
    assert [g["metric"] for g in exc.value.failing] == ["accuracy"]
    with pytest.raises(RegistryError, match="no alias 'production'"):
        resolve(ws, "support-bot@production")
    refused = audit.rows(ws, action="promote")
    assert [r["action"] for r in refused] == ["promote.refused"]
    assert refused[0]["details"]["failing"][0]["value"] == 0.62


def test_force_needs_reason_and_is_recorded(project):
    spec, ws = project
    _register(spec, ws, fake_eval(accuracy=0.62))
    for reason in (None, "  "):
        with pytest.raises(RegistryError, match="--force needs --reason"):
            promote(ws, "support-bot@1", "production", force=True, reason=reason)
    row = promote(ws, "support-bot@1", "production", force=True, reason="regulator demo, approved by CRO")
    assert row["details"]["forced"] is True
    assert row["details"]["reason"] == "regulator demo, approved by CRO"
    assert row["details"]["failing"][0]["value"] == 0.62
    assert resolve(ws, "support-bot@production").version == 1


def test_version_without_evaluation_is_refused(project):
    spec, ws = project
    _register(spec, ws, None)
    with pytest.raises(PromotionRefused, match="no evaluation"):
        promote(ws, "support-bot@1", "staging")
    assert "no evaluation" in audit.rows(ws, action="promote.refused")[0]["details"]["why"]
    row = promote(ws, "support-bot@1", "staging", force=True, reason="hotfix, evaluated offline")
    assert row["details"]["forced"] is True and "no evaluation" in row["details"]["failing"][0]["criterion"]


def test_spec_criterion_missing_from_stored_gates_is_still_checked(project):
    spec, ws = project
    # The evaluation only gated accuracy; the spec also demands latency, which measured too slow.
    ev = fake_eval(accuracy=0.95, latency=2500.0, criteria=(("accuracy", ">=", 0.8),))
    mv = _register(spec, ws, ev)
    assert ev.passed is True
    failing = [g for g in gate_results(mv) if not g["passed"]]
    assert [(g["metric"], g["value"]) for g in failing] == [("p95_latency_ms", 2500.0)]
    with pytest.raises(PromotionRefused, match="p95_latency_ms <= 1500.*value 2500"):
        promote(ws, "support-bot@1", "production")


def test_a_failing_compliance_gate_blocks_promotion(project):
    """A criterion on a metric the evaluation really reports (scoring.score_system writes
    compliance_violation_rate for every system), gated by the evaluation's own gate code."""
    from tailorlm.evaluate.gates import evaluate_gates
    from tailorlm.spec.checks import COMMON_METRICS

    assert "compliance_violation_rate" in COMMON_METRICS  # a metric every evaluation reports
    spec, ws = project
    ev = fake_eval(accuracy=0.95)
    metrics = {**ev.systems["fine_tuned"], "compliance_violation_rate": 0.03}
    ev.systems["fine_tuned"] = metrics
    ev.gates["fine_tuned"] = evaluate_gates(["accuracy >= 0.8", "compliance_violation_rate <= 0"], metrics)
    ev.passed = False
    _register(spec, ws, ev)
    with pytest.raises(PromotionRefused, match=r"compliance_violation_rate <= 0 \[fine_tuned\]: value 0.03") as err:
        promote(ws, "support-bot@1", "production")
    assert [g["metric"] for g in err.value.failing] == ["compliance_violation_rate"]


def test_plain_alias_moves_but_gated_aliases_need_promote(project):
    spec, ws = project
    _register(spec, ws, fake_eval(accuracy=0.5), "run-1")
    _register(spec, ws, fake_eval(accuracy=0.5), "run-2")
    row = set_alias(ws, "support-bot@1", "canary")
    assert row["details"] == {"from": None, "to": 1}
    set_alias(ws, "support-bot@2", "canary")
    assert resolve(ws, "support-bot@canary").version == 2
    with pytest.raises(RegistryError, match="gated.*models promote"):
        set_alias(ws, "support-bot@1", "production")
    with pytest.raises(RegistryError, match="not valid"):
        set_alias(ws, "support-bot@1", "latest")


def test_version_deleted_between_resolve_and_move_is_not_promoted(project, monkeypatch):
    import tailorlm.registry.versions as versions

    spec, ws = project
    _register(spec, ws, fake_eval(accuracy=0.91))
    real_resolve = versions.resolve

    def resolve_then_concurrent_delete(ws_, ref, **kwargs):
        mv = real_resolve(ws_, ref, **kwargs)
        monkeypatch.setattr(versions, "resolve", real_resolve)
        versions.delete_version(ws_, ref, reason="erasure request", actor="dave")  # another process, meanwhile
        return mv

    monkeypatch.setattr(versions, "resolve", resolve_then_concurrent_delete)
    with pytest.raises(RegistryError, match="was deleted while this command ran"):
        promote(ws, "support-bot@1", "production", actor="carol")
    assert "promote" not in [r["action"] for r in audit.rows(ws)]
    with pytest.raises(RegistryError):
        resolve(ws, "support-bot@production")
