"""Continued pretraining (domain adaptation) data: raw ``text`` rows, tokenized and packed.

Every token carries the loss. Texts are packed into rows of ``data.max_seq_len`` tokens (long texts
cut into chunks first) with position ids restarting per text, so a text never attends to its
neighbours in the row (see :mod:`tailorlm.train.collate`).
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from .sft import EncodedSplit, read_split
from .tokenize import EncodingError, encode_text


def encode_text_split(path: Path, tokenizer, progress: bool = False) -> EncodedSplit:
    """Encode every row that has raw text (``kind == 'text'``, or any row with a ``text`` value)."""
    df = read_split(path)
    out = EncodedSplit(examples=[])
    for row in tqdm(df.to_dict("records"), desc=f"tokenize {path.stem}", disable=not progress, leave=False):
        rid = str(row.get("id"))
        if row.get("kind") not in (None, "text") and not row.get("text"):
            out.skipped[rid] = f"kind '{row.get('kind')}' has no raw text for continued pretraining"
            continue
        try:
            out.examples.append(encode_text(row, tokenizer))
        except EncodingError as exc:
            out.skipped[rid] = str(exc)
    return out
