"""Watching a run: ``metrics.jsonl`` per step, TensorBoard, a loss-curve PNG, and the NaN guard.

``metrics.jsonl`` has one JSON object per optimizer step (``{"step", "epoch", "loss", "lr",
"grad_norm", "tokens", "tokens_per_second"}``) and one per validation (``{"step", "eval_loss"}``).
On resume the lines after the checkpoint's step are dropped first, so the log never repeats or
skips a step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..artifacts import atomic_write_bytes, atomic_write_text
from ..errors import CheckFailed


class TrainingDiverged(CheckFailed, RuntimeError):
    """The loss (or a weight) became NaN/Inf; the run stops and no checkpoint of it is kept."""


def check_finite(value: float, step: int, what: str = "loss") -> None:
    """Raise :class:`TrainingDiverged` with an actionable message when ``value`` is NaN or Inf."""
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"step {step}: the training {what} is {value}. The run is stopped and nothing from this step "
            "on is saved. Lower train.learning_rate (e.g. by 10x), keep train.max_grad_norm at 1.0, or "
            "check the data for empty or extreme examples; then restart (or --resume from the last "
            "good checkpoint)."
        )


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class MetricsWriter:
    """Writes the per-step log, TensorBoard scalars and the loss curve of one run.

    Args:
        run_dir: the run folder.
        resume_step: when resuming, the checkpoint's step; later log lines are removed.
        tensorboard: write TensorBoard event files under ``run_dir/tensorboard``.
    """

    def __init__(self, run_dir: Path, resume_step: int = 0, tensorboard: bool = True):
        self.path = run_dir / "metrics.jsonl"
        self.png = run_dir / "loss.png"
        rows = read_metrics(self.path)
        kept = [r for r in rows if r.get("step", 0) <= resume_step]
        if len(kept) != len(rows):
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.rows = kept
        self._fh = open(self.path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step hides events a killed run wrote after its last checkpoint.
            self._tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)

    def log(self, row: dict[str, Any]) -> None:
        """Append one row (flushed at once, so a kill loses nothing already logged)."""
        self.rows.append(row)
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(f"{'eval' if k.startswith('eval') else 'train'}/{k}", v, row["step"])

    def plot(self) -> Path:
        """Redraw ``loss.png`` (train loss per step, validation loss per validation)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        train = [(r["step"], r["loss"]) for r in self.rows if "loss" in r]
        val = [(r["step"], r["eval_loss"]) for r in self.rows if "eval_loss" in r]
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        if train:
            ax.plot(*zip(*train), label="train loss", lw=1)
        if val:
            ax.plot(*zip(*val), "o-", label="validation loss")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        atomic_write_bytes(self.png, buf.getvalue())
        return self.png

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
