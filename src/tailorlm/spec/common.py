"""Shared pieces of the spec: a strict base model and acceptance criteria."""

from __future__ import annotations

import operator
import re
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, field_validator

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_CRITERION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|>|<)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


class Strict(BaseModel):
    """Base for every spec section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Criterion(Strict):
    """One acceptance criterion, e.g. ``accuracy >= 0.85``.

    Attributes:
        metric: metric name as reported by the evaluation stage (``accuracy``, ``p95_latency_ms``...).
        op: comparison operator.
        threshold: the value to compare against.
    """

    metric: str
    op: Literal[">=", "<=", ">", "<", "=="]
    threshold: float

    @classmethod
    def parse(cls, text: str) -> "Criterion":
        m = _CRITERION.match(text)
        if not m:
            raise ValueError(
                f"cannot parse criterion {text!r}; write it as '<metric> <op> <number>', "
                "e.g. 'accuracy >= 0.85' (ops: >=, <=, >, <, ==)"
            )
        return cls(metric=m.group(1), op=m.group(2), threshold=float(m.group(3)))

    def check(self, value: float | None) -> bool:
        """True when ``value`` satisfies the criterion; a missing value fails."""
        if value is None:
            return False
        return OPS[self.op](float(value), self.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


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
