"""A classifier-head version answering: its input text, and one forward pass per batch to a label.

Training builds the head (:mod:`tailorlm.train.classifier`); evaluation and the server answer with
it through this module, so neither imports the train stage.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from tqdm.auto import tqdm


def recipe_cue(recipe: dict[str, Any]) -> str:
    """The text a stored classifier recipe appends to every message (versions before the cue: none)."""
    return str(recipe.get("cue") or "")


def message_text(messages: Sequence[dict[str, str]]) -> str:
    """The classifier's input text: every non-system turn's content, one per line."""
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")


def encode_text_ids(tokenizer, text: str, max_len: int, cue: str = "") -> list[int]:
    """The classifier's input ids: the text's tokens cut to ``max_len``, then the ``cue``'s tokens.

    The head reads the last position. With a cue (``"\\nLabel:"``) that position is one whose next word,
    for the pretrained model, is the answer, and a head initialised from the label names' embeddings
    (:func:`tailorlm.train.classifier.init_head_from_label_names`) starts from the model's own guess.
    """
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])[:max_len]
    if cue:
        return ids + list(tokenizer(cue, add_special_tokens=False)["input_ids"])
    return ids or [tokenizer.eos_token_id]  # an empty message still has a last token to read


def is_classifier(model) -> bool:
    """Whether a loaded model is a sequence classifier (its outputs are labels, not tokens)."""
    from ..models.compat import _underlying

    return type(_underlying(model)).__name__.endswith("ForSequenceClassification")


def classify(loaded, texts: Sequence[str], *, batch_size: int = 32, max_len: int = 256, progress: bool = True,
             desc: str = "classify", cue: str = "") -> list:
    """The argmax label of each text with its probability (one forward pass per batch, no generation).

    ``max_len`` and ``cue`` come from the version's stored recipe, so the model reads its inputs
    as it was trained.

    Returns:
        :class:`~tailorlm.constrained.LabelPrediction` per text, in input order.
    """
    import time

    from ..constrained import LabelPrediction

    model, tok = loaded.model, loaded.tokenizer
    model.eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    pad = tok.pad_token_id
    encoded = [encode_text_ids(tok, t, max_len, cue) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    results: list = [None] * len(texts)
    for start in tqdm(range(0, len(order), batch_size), desc=desc, disable=not progress, leave=False):
        idx = order[start:start + batch_size]
        t0 = time.perf_counter()
        width = max(len(encoded[i]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :len(encoded[i])] = torch.tensor(encoded[i])
            mask[r, :len(encoded[i])] = 1
        with torch.inference_mode(), loaded.autocast():
            probs = model(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device)).logits.float()
        probs = probs.softmax(-1).cpu()  # (B, C)
        wall = (time.perf_counter() - t0) * 1000.0
        total = float(sum(len(encoded[i]) for i in idx))
        for r, i in enumerate(idx):
            best = int(probs[r].argmax())
            results[i] = LabelPrediction(
                text=labels[best], prompt_tokens=len(encoded[i]), completion_tokens=0,
                latency_ms=wall * len(encoded[i]) / total, finished=True, probability=float(probs[r, best]),
                probs={lab: float(p) for lab, p in zip(labels, probs[r].tolist())})
    return results
