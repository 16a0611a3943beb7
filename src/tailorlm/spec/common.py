"""Shared pieces of the spec: a strict base model and acceptance criteria."""

from __future__ import annotations

import operator
import re
from typing import Any, Callable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, field_validator

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_NUMBER = r"-?[0-9.]+(?:e-?[0-9]+)?"
_CRITERION = re.compile(rf"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|>|<)\s*({_NUMBER})\s*$")
# "<metric> <op> <system> [+|- <number>]": compared with another evaluated system's value.
_RELATIVE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|>|<)\s*([A-Za-z_]\w*)\s*(?:([+-])\s*([0-9.]+(?:e-?[0-9]+)?))?\s*$")


class Strict(BaseModel):
    """Base for every spec section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Criterion(Strict):
    """One acceptance criterion, e.g. ``accuracy >= 0.85`` or ``accuracy >= classical + 0.02``.

    Attributes:
        metric: metric name as reported by the evaluation stage (``accuracy``, ``p95_latency_ms``...).
        op: comparison operator.
        threshold: the value to compare against; for a relative criterion, the offset added to the
            other system's value.
        system: compare with this evaluated system's value of the same metric (``classical``,
            ``few_shot``...) plus ``threshold``; ``None`` compares with ``threshold`` alone.
    """

    metric: str
    op: Literal[">=", "<=", ">", "<", "=="]
    threshold: float
    system: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Criterion":
        m = _CRITERION.match(text)
        if m:
            return cls(metric=m.group(1), op=m.group(2), threshold=float(m.group(3)))
        r = _RELATIVE.match(text)
        if r:
            offset = float(r.group(5) or 0.0) * (-1.0 if r.group(4) == "-" else 1.0)
            return cls(metric=r.group(1), op=r.group(2), threshold=offset, system=r.group(3))
        raise ValueError(
            f"cannot parse criterion {text!r}; write it as '<metric> <op> <number>', e.g. 'accuracy >= 0.85', "
            "or '<metric> <op> <system> [+|- <number>]', e.g. 'accuracy >= classical + 0.02' "
            "(ops: >=, <=, >, <, ==)"
        )

    def bound(self, systems: Mapping[str, Mapping[str, Any]] | None = None) -> float | None:
        """The value the metric is compared with: ``threshold``, or the other system's value plus it
        (None when that system or its metric was not measured)."""
        if self.system is None:
            return self.threshold
        ref = (systems or {}).get(self.system, {}).get(self.metric)
        return None if ref is None else float(ref) + self.threshold

    def check(self, value: float | None, systems: Mapping[str, Mapping[str, Any]] | None = None) -> bool:
        """True when ``value`` satisfies the criterion; a missing value (or reference) fails."""
        bound = self.bound(systems)
        if value is None or bound is None:
            return False
        return OPS[self.op](float(value), bound)

    def __str__(self) -> str:
        if self.system is None:
            return f"{self.metric} {self.op} {self.threshold:g}"
        offset = "" if not self.threshold else f" {'-' if self.threshold < 0 else '+'} {abs(self.threshold):g}"
        return f"{self.metric} {self.op} {self.system}{offset}"


def parse_criteria(value: object) -> object:
    """Accept criteria as strings (``"accuracy >= 0.8"``) or mappings."""
    if isinstance(value, list):
        return [Criterion.parse(v) if isinstance(v, str) else v for v in value]
    return value


class CriteriaMixin(Strict):
    criteria: list[Criterion] = []

    @field_validator("criteria", mode="before")
    @classmethod
    def _parse(cls, v: object) -> object:
        return parse_criteria(v)
