"""What each stage hands to the next. Plain dataclasses, JSON-able, stored in the stage cache.

Stages only talk through these (plus files on disk), so a stage can be rerun, skipped or replaced
without the others noticing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .systems import CANDIDATE


@dataclass
class DatasetVersion:
    """A prepared dataset: ``path`` holds train/validation/test.parquet, manifest.json, card.md,
    quarantine.jsonl.

    Attributes:
        name: the project name.
        version: content hash (first 12 hex) of the output rows plus the data spec section.
        labels: the label set (classification), sorted; empty otherwise.
        counts: split sizes and per-stage counts (``records_in``, ``kept``, ``quarantined``...).
    """

    name: str
    version: str
    path: str
    labels: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def split_path(self, split: str) -> Path:
        return Path(self.path) / f"{split}.parquet"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainRun:
    """A finished training run: ``adapter_path`` is loadable with PEFT (or full weights for ``full``).

    Attributes:
        run_id: unique id, also the folder name under ``.tailor/runs``.
        model_path: the trained artifact (PEFT adapter folder, or full model folder).
        base_ref / base_path / base_weight_hash: what was fine-tuned.
        metrics: final train/validation loss, steps, tokens, wall seconds, tokens/s.
    """

    run_id: str
    path: str
    model_path: str
    method: str
    base_ref: str
    base_path: str
    base_weight_hash: str
    dataset_version: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalResult:
    """Metrics per system on the test split, gate outcomes and report paths.

    Attributes:
        systems: ``{"base": {"accuracy": 0.12, "p95_latency_ms": 80.0, ...}, "fine_tuned": {...}}``.
        gates: per system, a list of ``{"criterion": "accuracy >= 0.85", "metric", "op", "threshold",
            "value", "passed"}``.
        passed: whether the fine-tuned system passed every criterion.
    """

    eval_id: str
    path: str
    systems: dict[str, dict[str, Any]]
    gates: dict[str, list[dict[str, Any]]]
    passed: bool
    report_html: str
    report_json: str
    report_md: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelVersion:
    name: str
    version: int
    path: str
    run_id: str
    dataset_version: str
    lineage: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    created_by: str = ""
    created_at: float = 0.0

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What decides promotion, besides the candidate system's own criteria: future checks (safety,
# governance) store their gates under their own key of ``EvalResult.gates``, next to the systems'.
GATE_CHECKS: tuple[str, ...] = (CANDIDATE, "safety", "governance")
_GATE_FIELDS = ("criterion", "metric", "op", "threshold", "value", "passed")


@dataclass(frozen=True)
class GateResult:
    """One acceptance gate's outcome, typed (the stored form is a dict in ``EvalResult.gates[check]``).

    Attributes:
        check: what produced it: ``fine_tuned`` (the candidate system's ``objective.criteria``),
            ``safety`` or ``governance``.
        criterion / metric / op / threshold / value / passed: the criterion and its measurement.
        stored: the stored dict as it is (with ``reference_system``, ``offset`` of a relative criterion).
    """

    check: str
    criterion: str | None
    metric: str | None
    op: str | None
    threshold: Any
    value: Any
    passed: bool
    stored: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stored(cls, check: str, gate: dict[str, Any]) -> "GateResult":
        known = {k: gate.get(k) for k in _GATE_FIELDS}
        return cls(check=check, **{**known, "passed": bool(known["passed"])}, stored=dict(gate))

    def as_row(self) -> dict[str, Any]:
        """The dict form shown by ``models show`` / ``promote``: the stored dict, ``system`` naming the check."""
        return {**self.stored, "system": self.check}


def deciding_gates(gates: dict[str, list[dict[str, Any]]] | None) -> list[GateResult]:
    """The gates that decide promotion, from an evaluation's stored ``gates`` (a baseline system's own
    gates are for comparison only and are left out)."""
    return [GateResult.from_stored(check, g) for check in GATE_CHECKS for g in (gates or {}).get(check, [])]
