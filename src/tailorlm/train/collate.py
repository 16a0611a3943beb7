"""Batches without padding waste: length-grouped batches, or packed rows with position-id resets.

A *row* is a list of segments (tokenized examples) laid side by side in one sequence. Unpacked
training has one segment per row and groups rows of similar length into a batch, so padding stays
small. Packed training fills each row with several segments up to ``max_len``; the position ids
restart at 0 at every segment and no 2-D attention mask is passed, which makes transformers build a
block-diagonal causal mask (``masking_utils.find_packed_sequence_indices``): no attention leaks
across packed examples for models that use the standard mask utilities (Llama, Mistral, Qwen,
Gemma, Phi...). The first token of each segment gets label ``-100`` so no example learns to
predict the next one's first token.

The batch plan of an epoch is a pure function of ``(seed, epoch)``: a resumed run replays the same
order and simply starts at the next batch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import torch

from .tokenize import IGNORE, Encoded

Row = list[Encoded]


def pack_rows(examples: Sequence[Encoded], max_len: int) -> list[Row]:
    """Greedy first-fit-decreasing packing of whole examples into rows of at most ``max_len`` tokens.

    Examples longer than ``max_len`` (raw texts) are first cut into ``max_len`` chunks.
    """
    pieces: list[Encoded] = []
    for ex in examples:
        for start in range(0, len(ex), max_len):
            pieces.append(Encoded(ex.input_ids[start:start + max_len], ex.labels[start:start + max_len], ex.record_id))
    order = sorted(range(len(pieces)), key=lambda i: (-len(pieces[i]), i))
    rows: list[Row] = []
    space: list[int] = []  # free tokens per row
    for i in order:
        n = len(pieces[i])
        for r, free in enumerate(space):
            if free >= n:
                rows[r].append(pieces[i])
                space[r] -= n
                break
        else:
            rows.append([pieces[i]])
            space.append(max_len - n)
    return rows


def packing_efficiency(rows: Sequence[Row], batches: Sequence[Sequence[int]]) -> float:
    """Fraction of real (non-pad) tokens in the padded batches: 1.0 means no padding at all."""
    real = padded = 0
    for batch in batches:
        lens = [sum(len(s) for s in rows[i]) for i in batch]
        real += sum(lens)
        padded += max(lens) * len(lens)
    return real / padded if padded else 1.0


def plan_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool) -> list[list[int]]:
    """Row indices of each batch for one epoch (deterministic in ``seed`` and ``epoch``).

    With ``group_by_length`` the rows are shuffled, cut into mega-batches of 50 batches, sorted by
    length inside each, batched, and the batches shuffled again: similar lengths share a batch (little
    padding) while the order stays random.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    if group_by_length:
        mega = batch_size * 50
        idx = [i for s in range(0, len(idx), mega) for i in sorted(idx[s:s + mega], key=lambda j: -lengths[j])]
    batches = [idx[s:s + batch_size] for s in range(0, len(idx), batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches


@dataclass
class Batch:
    """Tensors for one forward pass.

    Attributes:
        input_ids / labels / position_ids: (B, T) long.
        attention_mask: (B, T) long for padded unpacked rows; ``None`` for packed rows (the mask is
            then derived from ``position_ids``).
        keep: sorted sequence positions whose logits are needed (those predicting a labelled token),
            or ``None`` for all; passed as ``logits_to_keep`` so the LM head (49k-wide for SmolLM2)
            runs only where there is a loss.
        n_tokens: real (non-pad) tokens in the batch.
        classes: (B,) class indices for the classifier head (rows encoded with ``meta["class"]``),
            else ``None``.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    keep: torch.Tensor | None
    n_tokens: int
    classes: torch.Tensor | None = None


def collate(rows: Sequence[Row], pad_id: int, packed: bool, trim_logits: bool = True) -> Batch:
    """Right-pad the rows of one batch into tensors.

    Args:
        rows: the batch's rows (each a list of segments).
        pad_id: the tokenizer's pad id.
        packed: when true, no attention mask is built and position ids restart per segment (the
            padding tail becomes its own segment, which no real token attends to).
        trim_logits: compute ``keep`` (positions that predict a labelled token).
    """
    width = max(sum(len(s) for s in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    n_tokens = 0
    for r, row in enumerate(rows):
        at = 0
        for seg in row:
            n = len(seg)
            ids[r, at:at + n] = torch.tensor(seg.input_ids)
            lab = torch.tensor(seg.labels)
            if packed:
                lab[0] = IGNORE  # never predict a segment's first token from the previous segment
            labels[r, at:at + n] = lab
            pos[r, at:at + n] = torch.arange(n)
            at += n
        mask[r, :at] = 1
        n_tokens += at
        if at < width:
            pos[r, at:] = torch.arange(width - at)  # a separate "segment" for the padding tail
    keep = None
    if trim_logits:
        # Position t's logits predict token t+1: keep t where any row labels t+1.
        need = (labels[:, 1:] != IGNORE).any(dim=0).nonzero().flatten()
        if 0 < len(need) < width - 1:
            keep = need
    classes = None
    if rows and all(row and "class" in row[0].meta for row in rows):
        classes = torch.tensor([row[0].meta["class"] for row in rows], dtype=torch.long)
    return Batch(ids, labels, pos, None if packed else mask, keep, n_tokens, classes)
