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


def evaluate_gates(criteria: Sequence[Any], metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Check every criterion against ``metrics``; a metric that is missing fails its criterion.

    Args:
        criteria: ``Criterion`` objects, strings like ``"accuracy >= 0.85"`` or mappings.
        metrics: a flat mapping metric name -> number (``EvalResult.systems[name]``).

    Returns:
        One dict per criterion: ``criterion`` (text), ``metric``, ``op``, ``threshold``, ``value``
        (None when missing) and ``passed``.
    """
    out = []
    for c in map(_as_criterion, criteria):
        value = metrics.get(c.metric)
        value = None if value is None else float(value)
        out.append({
            "criterion": str(c),
            "metric": c.metric,
            "op": c.op,
            "threshold": c.threshold,
            "value": value,
            "passed": c.check(value),
        })
    return out


def all_passed(gates: Sequence[Mapping[str, Any]]) -> bool:
    """True when every gate passed (an empty criteria list passes)."""
    return all(g["passed"] for g in gates)
