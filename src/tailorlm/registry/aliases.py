"""Aliases (``candidate``, ``staging``, ``production`` or any name) and gated promotion.

An alias points at one version of one model and moves in one statement (an upsert inside a
write-locked transaction, audited in the same transaction). ``staging`` and ``production`` are
*gated*: only :func:`promote` moves them, and it refuses unless the version's stored evaluation
passed every acceptance criterion (and any safety gates), or ``force`` comes with a ``reason``.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..results import deciding_gates
from ..systems import CANDIDATE
from . import audit
from .errors import PromotionRefused, RegistryError

GATED_ALIASES = frozenset({"staging", "production"})
# The gates that must pass before promotion are results.deciding_gates: the candidate system's
# acceptance criteria, plus safety/governance checks once those stages report them.
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def aliases_of(conn: Connection) -> dict[tuple[str, int], list[str]]:
    """(name, version) -> its aliases, sorted."""
    out: dict[tuple[str, int], list[str]] = {}
    for name, alias, version in conn.execute(text("SELECT name, alias, version FROM aliases ORDER BY alias")):
        out.setdefault((name, int(version)), []).append(alias)
    return out


def aliases_of_version(conn: Connection, name: str, version: int) -> list[str]:
    """The aliases pointing at ``name@version``, sorted."""
    return [a for (a,) in conn.execute(text("SELECT alias FROM aliases WHERE name = :n AND version = :v ORDER BY alias"),
                                       {"n": name, "v": version})]


def set_alias_in(conn: Connection, name: str, alias: str, version: int, *, actor: str | None = None,
                 details: dict[str, Any] | None = None) -> dict:
    """Point ``name@alias`` at ``version`` inside the caller's locked transaction; audits ``alias.set``."""
    if not _ALIAS.match(alias) or alias == "latest":
        raise RegistryError(f"alias {alias!r} is not valid: start with a letter, use letters, digits, '_', '.', '-' ('latest' is reserved)")
    prev = conn.execute(text("SELECT version FROM aliases WHERE name = :n AND alias = :a"), {"n": name, "a": alias}).scalar()
    conn.execute(text(
        "INSERT INTO aliases (name, alias, version, updated_at) VALUES (:n, :a, :v, :t) "
        "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at"
    ), {"n": name, "a": alias, "v": int(version), "t": time.time()})
    return audit.append(conn, "alias.set", f"{name}@{alias}",
                        {"from": None if prev is None else int(prev), "to": int(version), **(details or {})}, actor)


def _require_alive(conn: Connection, name: str, version: int) -> None:
    """Inside the lock: the version was not deleted since it was resolved (a racing ``models delete``)."""
    deleted = conn.execute(text("SELECT deleted_at FROM model_versions WHERE name = :n AND version = :v"),
                           {"n": name, "v": int(version)}).scalar()
    if deleted is not None:
        raise RegistryError(f"{name}@{version} was deleted while this command ran; nothing was moved")


def set_alias(ws, ref: str, alias: str, *, actor: str | None = None, default_name: str | None = None) -> dict:
    """Point an ungated alias at a version (``tailorlm models alias support-bot@3 canary``).

    Raises:
        RegistryError: the alias is gated (use :func:`promote`) or the version does not resolve.
    """
    from .versions import resolve

    if alias in GATED_ALIASES:
        raise RegistryError(f"alias {alias!r} is gated by the acceptance criteria; use 'tailorlm models promote {ref} --to {alias}'")
    mv = resolve(ws, ref, default_name=default_name)
    with ws.store.locked(f"model_versions:{mv.name}") as conn:
        _require_alive(conn, mv.name, mv.version)
        return set_alias_in(conn, mv.name, alias, mv.version, actor=actor)


def _fallback_gates(criteria: list[dict], metrics: dict[str, Any], systems: dict[str, Any]) -> list[dict]:
    from ..spec.common import Criterion

    out = []
    for c in criteria:
        crit = Criterion(**c)
        value = metrics.get(crit.metric)
        out.append({"criterion": str(crit), "metric": crit.metric, "op": crit.op, "threshold": crit.bound(systems),
                    "value": value, "passed": crit.check(value, systems)})
    return out


def _evaluate_criteria(criteria: list[dict], metrics: dict[str, Any], systems: dict[str, Any]) -> list[dict]:
    """Gate results for criteria the stored evaluation did not report (evaluation stage's engine when present)."""
    try:
        from ..evaluate.gates import evaluate_gates
        from ..spec.common import Criterion
    except ImportError:
        return _fallback_gates(criteria, metrics, systems)
    return [dict(g) for g in evaluate_gates([Criterion(**c) for c in criteria], metrics, systems)]


def _criterion_text(c: dict) -> str:
    from ..spec.common import Criterion

    return str(Criterion(**c))


def gate_results(mv) -> list[dict]:
    """Every gate result for a version: the stored ones plus any spec criterion they do not cover.

    Each is ``{"system", "criterion", "metric", "op", "threshold", "value", "passed"}``.
    """
    ev = mv.evaluation or {}
    results = [g.as_row() for g in deciding_gates(ev.get("gates"))]
    covered = {g.get("criterion") for g in results}
    criteria = ((mv.lineage.get("spec") or {}).get("objective") or {}).get("criteria") or []
    missing = [c for c in criteria if _criterion_text(c) not in covered]
    if missing and ev:
        systems = ev.get("systems") or {}
        results += [{**g, "system": CANDIDATE}
                    for g in _evaluate_criteria(missing, systems.get(CANDIDATE, {}), systems)]
    return results


def _describe(g: dict) -> str:
    value = g.get("value")
    shown = "missing (not measured)" if value is None else f"{value:.4g}" if isinstance(value, (int, float)) else repr(value)
    return f"{g.get('criterion') or g.get('metric')} [{g.get('system')}]: value {shown}, threshold {g.get('op')} {g.get('threshold')}"


def check_promotable(mv) -> tuple[list[dict], list[dict]]:
    """(all gate results, failing ones); raises when the version cannot be judged at all."""
    if not mv.evaluation:
        raise PromotionRefused(f"{mv.ref} has no evaluation; run 'tailorlm eval' and register again, or pass --force --reason '...'")
    results = gate_results(mv)
    if not results:
        raise PromotionRefused(
            f"{mv.ref} has no acceptance criteria to pass; add objective.criteria to tailor.yaml "
            "(e.g. 'accuracy >= 0.85'), evaluate and register again, or pass --force --reason '...'")
    failing = [g for g in results if not g.get("passed")]
    if not failing and mv.evaluation.get("passed") is False:
        failing = [{"system": CANDIDATE, "criterion": "evaluation.passed", "metric": "passed", "op": "==",
                    "threshold": True, "value": False, "passed": False}]
    return results, failing


def promote(ws, ref: str, to_alias: str, force: bool = False, reason: str | None = None,
            actor: str | None = None, *, default_name: str | None = None) -> dict:
    """Move ``to_alias`` to the version ``ref`` names, if its evaluation passed its gates.

    Args:
        force: promote despite failing or missing gates; requires ``reason``; both are audited.

    Returns:
        The ``promote`` audit row (its details list the gates, the previous version and any override).

    Raises:
        PromotionRefused: a gate failed (the message names each criterion, its value and threshold),
            or the version has no evaluation or criteria.
        RegistryError: ``force`` without ``reason``, unknown or deleted version, invalid alias.
    """
    from .versions import resolve

    if force and not (reason and reason.strip()):
        raise RegistryError("--force needs --reason '...': an override must say why (it is written to the audit log)")
    mv = resolve(ws, ref, default_name=default_name)
    actor = actor or audit.current_actor()
    try:
        results, failing = check_promotable(mv)
        if failing:
            lines = "\n".join(f"  - {_describe(g)}" for g in failing)
            raise PromotionRefused(
                f"refusing to promote {mv.ref} to {to_alias!r}: {len(failing)} criterion(s) failed:\n{lines}\n"
                "Improve the model and register a new version, or override with --force --reason '...'.",
                failing,
            )
    except PromotionRefused as exc:
        if not force:
            # Refused attempts are evidence too ("who tried to ship what"): audit them, then refuse.
            audit.record(ws, "promote.refused", mv.ref, {"to": to_alias, "why": str(exc), "failing": exc.failing}, actor)
            raise
        if not exc.failing:  # no evaluation or no criteria: record why the override was needed
            results, failing = [], [{"criterion": str(exc), "passed": False}]
    with ws.store.locked(f"model_versions:{mv.name}") as conn:
        _require_alive(conn, mv.name, mv.version)
        moved = set_alias_in(conn, mv.name, to_alias, mv.version, actor=actor, details={"via": "promote"})
        return audit.append(conn, "promote", mv.ref, {
            "to": to_alias, "from_version": moved["details"]["from"], "forced": force,
            "reason": reason, "gates": results, "failing": failing,
        }, actor)
