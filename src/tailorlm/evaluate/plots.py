"""The report's plots, rendered with matplotlib (Agg) to PNG bytes, embedded as base64 in report.html.

Each function returns PNG bytes, or None when there is nothing to plot.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

BAR_METRICS = ["accuracy", "macro_f1", "exact_match", "token_f1", "rougeL", "chrf", "embedding_similarity",
               "json_validity",
               "hallucination_rate", "compliance_violation_rate"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display; safe in threads and on servers
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def data_uri(png: bytes | None) -> str:
    return "" if not png else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def metric_bars(systems: Mapping[str, Mapping[str, float]]) -> bytes | None:
    """Grouped bars: one group per fraction-valued metric, one bar per system."""
    import numpy as np

    names = list(systems)
    metrics = [m for m in BAR_METRICS if any(m in s for s in systems.values())]
    if not names or not metrics:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(metrics)), 3.6))
    width = 0.8 / len(names)
    x = np.arange(len(metrics))
    for i, name in enumerate(names):
        vals = [systems[name].get(m, 0.0) for m in metrics]
        bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
    ax.set_xticks(x, metrics, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score (fraction)")
    ax.set_title("Metrics per system (hallucination and violations: lower is better)")
    ax.legend(fontsize=8, ncols=min(len(names), 5), loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return _png(fig)


def confusion_heatmap(confusion: Mapping[str, Any] | None, title: str) -> bytes | None:
    """Heatmap of a confusion matrix (rows = true label, columns = predicted), counts annotated
    (at many labels the cells shrink and the image is linked from the report, not embedded)."""
    if not confusion or not confusion.get("matrix"):
        return None
    import numpy as np

    m = np.array(confusion["matrix"])
    rows, cols = confusion["labels"], confusion["columns"]
    plt = _plt()
    cell = 0.45 if len(cols) <= 20 else 0.28
    fig, ax = plt.subplots(figsize=(1.2 + cell * len(cols), 1.0 + cell * 0.9 * len(rows)))
    im = ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    peak = m.max() or 1
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if m[i, j] > peak / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _png(fig)


def latency_histogram(latencies: Mapping[str, Sequence[float]]) -> bytes | None:
    """Overlaid histograms of per-example latency (ms), one per system."""
    if not any(latencies.values()):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for name, vals in latencies.items():
        if vals:
            ax.hist(vals, bins=30, alpha=0.5, label=name)
    ax.set_xlabel("latency per example (ms, batch wall time attributed by tokens)")
    ax.set_ylabel("examples")
    ax.legend(fontsize=8)
    return _png(fig)


def read_loss_log(run_path: str | Path | None) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train loss points, eval loss points) from a run folder's metrics.jsonl; empty when absent."""
    if not run_path:
        return [], []
    path = Path(run_path) / "metrics.jsonl"
    if not path.exists():
        return [], []
    train, evals = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "loss" in row and row.get("step") is not None:
            train.append((int(row["step"]), float(row["loss"])))
        if "eval_loss" in row and row.get("step") is not None:
            evals.append((int(row["step"]), float(row["eval_loss"])))
    return train, evals


def loss_curve(run_path: str | Path | None) -> bytes | None:
    """Training (and validation) loss per optimizer step."""
    train, evals = read_loss_log(run_path)
    if not train and not evals:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    if train:
        ax.plot(*zip(*train), label="train loss", lw=1)
    if evals:
        ax.plot(*zip(*evals), "o-", label="validation loss", lw=1.5)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    ax.legend(fontsize=8)
    return _png(fig)


def reliability_diagram(bins_by_system: Mapping[str, Sequence[Mapping[str, float]] | None]) -> bytes | None:
    """Accuracy against mean confidence per confidence bin, one line per system (diagonal = calibrated)."""
    systems = {n: b for n, b in bins_by_system.items() if b}
    if not systems:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfectly calibrated")
    for name, bins in systems.items():
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", ms=3, lw=1.2, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (probability of the answer)")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title("Reliability (10 equal-width bins)", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)
