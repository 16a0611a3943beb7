"""The classifier head (``train.head: classifier``): one logit per label on top of the base model.

The base model is loaded as ``AutoModelForSequenceClassification`` (for Llama-family models
``LlamaForSequenceClassification``: the hidden state of the last non-pad token goes through a new
``score`` layer, hidden -> number of labels). The body is adapted with ``train.method`` (LoRA with
PEFT's ``SEQ_CLS`` task type trains and saves the ``score`` layer in full beside the adapter) and
the loss is cross-entropy over the labels. The model reads the message alone: no instruction, no
label list, no chat template (:data:`INPUT_RECIPE`), so a row is ~20 tokens instead of ~150-450,
and an answer is one forward pass with a probability for every label.

The label list is stored with the artifact (``provenance.json`` and the model config's
``id2label``), so the served and evaluated model maps logits back to the same labels.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from ..models.classifier_head import encode_text_ids, message_text
from ..prompting import build_messages
from ..spec.train import CLASSIFIER_METHODS  # with the spec: spec check reads it without importing torch
from .tokenize import IGNORE, Encoded

log = logging.getLogger(__name__)

# The text after every message: its last position is where the pretrained model would write the label,
# and the head starts from the label names' embeddings (init_head_from_label_names), so training begins
# from the model's own zero-shot guess instead of random weights. Versions trained before 2026-12-02
# have no ``cue`` in their recipe and read the message alone, as they were trained.
CUE = "\nLabel:"
INPUT_RECIPE = ("the example's non-system turns (the customer message), joined by newlines, tokenized "
                "without special tokens or chat template, cut to data.max_seq_len tokens, then the cue's "
                "tokens; no instruction, no label list; the head reads the hidden state of the last token")


def resolve_head(task: str, head: str, method: str) -> tuple[str, str]:
    """``(head, why)``: the head ``train.head`` means for this task and method."""
    if head != "auto":
        return head, f"train.head: {head}"
    if task == "classification" and method in CLASSIFIER_METHODS:
        return "classifier", ("auto: classification -> classifier head (more accurate per CPU minute than the "
                              "generative head in our measurements, docs/training.md)")
    if task == "classification":
        return "lm", f"auto: method {method} cannot carry a classifier head -> lm head"
    return "lm", f"auto: task {task} -> lm head"


def prompt_recipe(labels: Sequence[str], max_len: int) -> dict[str, Any]:
    """What the artifact stores about its inputs (``provenance.json`` -> ``prompt_recipe``)."""
    return {"head": "classifier", "input": INPUT_RECIPE, "max_tokens": max_len, "labels": list(labels),
            "cue": CUE, "head_init": "label_names", "output": "argmax label; its softmax probability"}


def label_name_text(label: str) -> str:
    """A label as words (``card_not_working`` -> `` card not working``), as the model would write it."""
    return " " + " ".join(str(label).replace("_", " ").replace("-", " ").split())


def init_head_from_label_names(model, tokenizer, labels: Sequence[str]) -> bool:
    """Set the new ``score`` layer's row of each label to the mean input embedding of its name's tokens.

    On a model whose head reads the hidden state after :data:`CUE`, the logit of a label is then the
    model's affinity for writing that label's words there: a zero-shot classifier before the first
    step (on the 72-label bench workload 0.115 accuracy untrained, chance 0.014), which fine-tuning
    refines instead of learning a random 72 x 576 layer from scratch. Returns False (random head, as
    transformers made it) when the model has no ``score`` layer of the embedding's width.
    """
    score = getattr(model, "score", None)
    emb = model.get_input_embeddings()
    if score is None or emb is None or tuple(score.weight.shape) != (len(labels), emb.weight.shape[1]):
        log.info("classifier head: random initialisation (no score layer of the embedding width)")
        return False
    with torch.no_grad():
        for i, label in enumerate(labels):
            ids = tokenizer(label_name_text(label), add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
            score.weight[i] = emb.weight[ids].float().mean(0).to(score.weight.dtype)
        if getattr(score, "bias", None) is not None:
            score.bias.zero_()
    return True


def encode_classifier_split(path: Path, tokenizer, objective, labels: Sequence[str], max_len: int,
                            progress: bool = False):
    """Encode a split for the classifier head: ids of the message, the class index in ``meta``.

    Rows whose label is not in ``labels`` are reported in ``skipped`` (none vanishes silently);
    longer messages are cut to ``max_len`` tokens (the count is logged).
    """
    from .sft import EncodedSplit, read_split

    index = {str(lab): i for i, lab in enumerate(labels)}
    out = EncodedSplit(examples=[])
    cut, cue_len = 0, len(tokenizer(CUE, add_special_tokens=False)["input_ids"])
    for row in tqdm(read_split(path).to_dict("records"), desc=f"tokenize {path.stem}", disable=not progress,
                    leave=False):
        rid = str(row.get("id"))
        label = str(row.get("label") or row.get("completion") or "")
        if row.get("kind", "sft") != "sft" or label not in index:
            out.skipped[rid] = (f"label {label!r} is not in the label set" if label not in index
                                else f"kind '{row.get('kind')}' is not used by the classifier head")
            continue
        text = message_text(build_messages(row, objective, labels))
        ids = encode_text_ids(tokenizer, text, max_len, CUE)
        cut += len(ids) - cue_len >= max_len
        out.examples.append(Encoded(input_ids=ids, labels=[IGNORE] * len(ids), record_id=rid,
                                    meta={"class": index[label]}))
    if cut:
        log.info("%s: %d message(s) cut to %d tokens for the classifier head", path.name, cut, max_len)
    return out


def load_classifier_base(spec, labels: Sequence[str]):
    """The base model with a fresh classifier head, as a ``LoadedModel`` (QLoRA: 4-bit body)."""
    from transformers import AutoModelForSequenceClassification

    from ..models.loader import LoadedModel, load_tokenizer, resolve_base
    from ..models.precision import select_device
    from ..models.trained import classifier_kwargs

    resolved = resolve_base(spec.model.base, spec.model.revision)
    dev, dtype, autocast = select_device(spec.model.device, spec.model.dtype)
    tok = load_tokenizer(resolved.path)
    kwargs = classifier_kwargs(labels, tok.pad_token_id)
    if spec.train.method == "qlora":
        from .methods import load_for_method

        model = load_for_method(spec, resolved.path, dev, dtype, AutoModelForSequenceClassification, **kwargs)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(resolved.path, dtype=dtype, **kwargs).to(dev)
    model.config.pad_token_id = tok.pad_token_id  # the head pools at the last token that is not padding
    init_head_from_label_names(model, tok, labels)
    return LoadedModel(model=model, tokenizer=tok, device=dev, autocast_bf16=autocast, resolved=resolved)


def classifier_loss(model, batch, device: str) -> torch.Tensor:
    """Mean cross-entropy over the labels of one batch (``batch.classes``: (B,) class indices)."""
    import torch.nn.functional as F

    out = model(input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device))
    return F.cross_entropy(out.logits.float(), batch.classes.to(device))  # logits: (B, C)
