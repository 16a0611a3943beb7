"""Acceptance gates: the spec's criteria checked against one system's metrics.

Used by ``tailorlm eval --gate`` and by the registry's promotion gate.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..spec import Criterion


def _as_criterion(c: Any) -> Criterion:
    if isinstance(c, Criterion):
        return c
    if isinstance(c, str):
        return Criterion.parse(c)
    return Criterion.model_validate(c)


def evaluate_gates(criteria: Sequence[Any], metrics: Mapping[str, Any],
                   systems: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Check every criterion against ``metrics``; a metric that is missing fails its criterion.

    Args:
        criteria: ``Criterion`` objects, strings like ``"accuracy >= 0.85"`` or mappings.
        metrics: a flat mapping metric name -> number (``EvalResult.systems[name]``).
        systems: every evaluated system's metrics, for criteria relative to another system
            (``accuracy >= classical + 0.02``); such a criterion fails when that system is missing.

    Returns:
        One dict per criterion: ``criterion`` (text), ``metric``, ``op``, ``threshold`` (the value
        compared with: for a relative criterion the other system's value plus the offset),
        ``value`` (None when missing) and ``passed``; relative ones also carry ``reference_system``
        and ``offset``.
    """
    out = []
    for c in map(_as_criterion, criteria):
        value = metrics.get(c.metric)
        value = None if value is None else float(value)
        gate = {
            "criterion": str(c),
            "metric": c.metric,
            "op": c.op,
            "threshold": c.bound(systems),
            "value": value,
            "passed": c.check(value, systems),
        }
        if c.system is not None:
            gate.update(reference_system=c.system, offset=c.threshold)
        out.append(gate)
    return out


def all_passed(gates: Sequence[Mapping[str, Any]]) -> bool:
    """True when every gate passed (an empty criteria list passes)."""
    return all(g["passed"] for g in gates)
