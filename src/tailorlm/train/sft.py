"""Instruction tuning data: dataset rows -> tokenized examples with completion-only labels.

The training loop itself is shared with continued pretraining (:mod:`tailorlm.train.loop`); what
differs is how rows become token sequences, which lives here and in :mod:`tailorlm.train.pretrain`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
from tqdm.auto import tqdm

from ..spec import ObjectiveSpec
from .tokenize import Encoded, EncodingError, encode_sft

log = logging.getLogger(__name__)


@dataclass
class EncodedSplit:
    """A tokenized split plus an account of every row that was not used (nothing vanishes silently).

    Attributes:
        examples: the encoded rows, in file order.
        skipped: ``{record_id: reason}`` for rows that could not be used.
    """

    examples: list[Encoded]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return sum(len(e) for e in self.examples)


def read_split(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path}: dataset split is missing; rerun 'tailorlm data prepare'.")
    return pd.read_parquet(path)


def encode_sft_split(
    path: Path,
    tokenizer,
    objective: ObjectiveSpec,
    labels: Sequence[str],
    max_len: int,
    progress: bool = False,
    list_labels: bool = True,
    examples: Any = None,
    k: int = 0,
    pool: int = 1,
    seed: int = 0,
) -> EncodedSplit:
    """Encode every ``sft`` row of a split; rows of other kinds or too long are reported in ``skipped``.

    ``examples`` (a :class:`tailorlm.rag.examples.ExampleIndex` of the training split) and ``k``: each
    row's ``k`` nearest other training rows go before it as prior turns (``train.retrieved_examples``);
    ``pool`` > 1 draws them from its ``pool`` nearest instead (``train.retrieval_pool``, training split only)."""
    df = read_split(path)
    out = EncodedSplit(examples=[])
    rows = df.to_dict("records")
    shots = ([[] for _ in rows] if examples is None or k <= 0
             else examples.nearest(rows, k, exclude_self=True, pool=pool, seed=seed))
    for row, row_shots in tqdm(zip(rows, shots), total=len(rows), desc=f"tokenize {path.stem}",
                               disable=not progress, leave=False):
        rid = str(row.get("id"))
        kind = row.get("kind", "sft")
        if kind != "sft":
            out.skipped[rid] = f"kind '{kind}' is not used by instruction tuning"
            continue
        try:
            out.examples.append(encode_sft(row, tokenizer, objective, labels, max_len, list_labels, row_shots))
        except EncodingError as exc:
            out.skipped[rid] = str(exc)
    if out.skipped:
        first = list(out.skipped.items())[:3]
        log.warning("%s: %d row(s) not used for training, e.g. %s", path.name, len(out.skipped), first)
    return out
