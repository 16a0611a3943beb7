"""Compliance rules from ``eval.compliance``: each rule is a small function over one answer.

A rule is ``fn(answer: str, example: dict) -> str | None``: the violation message, or None. Rules
come from the spec (forbidden/required patterns, maximum length, PII in the answer) and from plugins
registered under the entry point group ``tailorlm.compliance_rules``::

    [project.entry-points."tailorlm.compliance_rules"]
    no_advice = "my_bank.rules:no_investment_advice"

and enabled by name in ``eval.compliance.custom``. PII detection reuses the data stage's Presidio
scrubber (:class:`tailorlm.privacy.pii.Scrubber`), so "PII" means the same thing in training data and in
model output.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import UserError

if TYPE_CHECKING:
    from ..spec.data import PIISpec

Rule = Callable[[str, dict], "str | None"]
ENTRY_POINT_GROUP = "tailorlm.compliance_rules"


class ComplianceError(UserError):
    """A compliance rule named in the spec cannot be loaded."""


def forbidden_rule(pattern: str) -> Rule:
    rx = re.compile(pattern, re.IGNORECASE)

    def rule(answer: str, example: dict) -> str | None:
        m = rx.search(answer or "")
        return f"contains forbidden pattern {pattern!r} ({m.group(0)!r})" if m else None

    return rule


def required_rule(pattern: str) -> Rule:
    rx = re.compile(pattern, re.IGNORECASE)

    def rule(answer: str, example: dict) -> str | None:
        return None if rx.search(answer or "") else f"missing required pattern {pattern!r}"

    return rule


def max_chars_rule(limit: int) -> Rule:
    def rule(answer: str, example: dict) -> str | None:
        n = len(answer or "")
        return f"{n} characters, over the limit of {limit}" if n > limit else None

    return rule


def load_custom_rule(name: str) -> Rule:
    """The rule registered as ``name`` in the ``tailorlm.compliance_rules`` entry point group."""
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise ComplianceError(
            f"eval.compliance.custom: no rule named {name!r} in entry point group {ENTRY_POINT_GROUP!r} "
            f"(installed: {', '.join(known) or 'none'}). Register it in your package's pyproject.toml under "
            f'[project.entry-points."{ENTRY_POINT_GROUP}"] and reinstall the package.'
        )
    return found[0].load()


def build_rules(compliance: Any) -> dict[str, Rule]:
    """Rule name -> function for the spec's ``eval.compliance`` section (PII is handled in batch)."""
    rules: dict[str, Rule] = {}
    for p in compliance.forbidden:
        rules[f"forbidden:{p}"] = forbidden_rule(p)
    for p in compliance.required:
        rules[f"required:{p}"] = required_rule(p)
    if compliance.max_chars:
        rules["max_chars"] = max_chars_rule(compliance.max_chars)
    for name in compliance.custom:
        rules[f"custom:{name}"] = load_custom_rule(name)
    return rules


def pii_findings(answers: Sequence[str], pii_spec: PIISpec) -> list[list[str]]:
    """Per answer, the PII entity types found by the data stage's scrubber (``TYPE: text``)."""
    from ..privacy.pii import Scrubber

    try:
        scrubber = Scrubber.from_spec(pii_spec)
    except AttributeError:  # an older PIISpec without allow/ner
        scrubber = Scrubber(pii_spec.entities, pii_spec.custom, pii_spec.score_threshold)
    results = scrubber.analyze(list(answers))
    return [[f"{r.entity_type}: {a[r.start:r.end]}" for r in res] for a, res in zip(answers, results)]


def check_answers(answers: Sequence[str], examples: Sequence[dict], rules: dict[str, Rule],
                  pii: list[list[str]] | None = None) -> list[list[str]]:
    """Per answer, the violations as ``"<rule>: <message>"`` strings (empty list = compliant)."""
    out = []
    for i, (answer, example) in enumerate(zip(answers, examples)):
        flags = []
        for name, rule in rules.items():
            msg = rule(answer, example)
            if msg:
                flags.append(f"{name}: {msg}")
        if pii is not None and pii[i]:
            flags.append("pii: " + "; ".join(pii[i]))
        out.append(flags)
    return out


def summarize(flags: Sequence[list[str]], ids: Sequence[str], max_examples: int = 3,
              rule_names: Sequence[str] = ()) -> dict[str, dict]:
    """Per rule: violation count and up to ``max_examples`` example ids with their messages.

    ``rule_names`` (the keys of :func:`build_rules`) lets a rule whose pattern contains ": " keep
    its whole name; other flags are named by the text before the first ": ".
    """
    names = sorted((*rule_names, "pii"), key=len, reverse=True)  # longest first: "forbidden:a: b" before "forbidden:a"
    out: dict[str, dict] = {}
    for ex_id, row in zip(ids, flags):
        for flag in row:
            rule = next((n for n in names if flag.startswith(f"{n}: ")), flag.split(": ", 1)[0])
            entry = out.setdefault(rule, {"count": 0, "examples": []})
            entry["count"] += 1
            if len(entry["examples"]) < max_examples:
                entry["examples"].append({"id": ex_id, "message": flag})
    return out
