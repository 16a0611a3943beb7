"""``tailorlm data preview``: tokenized training samples with the loss-carrying tokens marked.

The ids and labels come from the training stage's own encoder (:mod:`tailorlm.train.tokenize`),
so the preview shows exactly what training will learn from: prompt tokens carry no loss, the
completion and its closing end-of-turn token do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.text import Text


def latest_version(ws, name: str) -> Path | None:
    """Folder of the most recently prepared version of ``name`` (from the store)."""
    from ..store.datasets import latest_dataset_path

    return latest_dataset_path(ws.store, name)


def version_dir(ws, name: str, version: str | None) -> Path:
    from .errors import DataError

    path = (ws.datasets / name / version) if version else latest_version(ws, name)
    if path is None or not (path / "manifest.json").exists():
        what = f"version {version}" if version else "any version"
        raise DataError(f"no prepared dataset ({what}) for project '{name}'. Run 'tailorlm data prepare' first.")
    return path


def encode_row(row: dict[str, Any], tokenizer, objective, labels: list[str]):
    """The training encoding of one dataset row (``Encoded`` with input_ids and labels)."""
    from ..train.tokenize import encode_sft, encode_text

    if row["kind"] == "text":
        return encode_text(row, tokenizer)
    return encode_sft(row, tokenizer, objective, labels)


def render_sample(pairs: list[tuple[str, bool]]) -> Text:
    """Rich text: loss tokens bold green on a dark background, others dim."""
    out = Text()
    for tok, loss in pairs:
        out.append(tok, style="bold green on grey15" if loss else "dim")
    return out


def preview(ws, spec, *, n: int = 3, split: str = "train", version: str | None = None, tokenizer=None
            ) -> list[dict[str, Any]]:
    """The first ``n`` rows of a split with their tokens and loss mask.

    Returns:
        One dict per sample: ``id``, ``tokens`` (list of (token text, carries loss)),
        ``n_tokens``, ``n_loss_tokens``.
    """
    from ..train.tokenize import show_labels
    from .errors import DataError
    from .split import SPLITS

    if split not in SPLITS:
        raise DataError(f"--split {split}: unknown split. Choose one of {', '.join(SPLITS)}.")
    path = version_dir(ws, spec.project, version)
    manifest = json.loads((path / "manifest.json").read_text())
    if tokenizer is None:
        from ..models import load_tokenizer, resolve_base

        tokenizer = load_tokenizer(resolve_base(spec.model.base, spec.model.revision, spec.model.download).path)
    rows = pq.read_table(path / f"{split}.parquet").slice(0, n).to_pylist()
    out = []
    for row in rows:
        enc = encode_row(row, tokenizer, spec.objective, manifest.get("labels", []))
        out.append({"id": row["id"], "tokens": show_labels(enc, tokenizer), "n_tokens": len(enc.input_ids),
                    "n_loss_tokens": enc.n_loss_tokens})
    return out
