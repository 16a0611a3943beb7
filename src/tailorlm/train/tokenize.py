"""Turn dataset rows into token ids and label masks.

Instruction tuning (SFT): the prompt is built ONLY by :func:`tailorlm.prompting.build_messages` (the
evaluation builds its prompts the same way), the row's ``completion`` is appended as the final
assistant turn, and the whole conversation goes through the tokenizer's own chat template. Labels
are ``-100`` on every prompt token and on the chat-template header of the assistant turn; the
completion tokens and the end-of-turn token (EOS) carry the loss, so the model learns the answer
*and* to stop. Anything the template writes after the EOS (SmolLM2 writes a newline) is dropped.

Continued pretraining: each raw text becomes ``ids + [eos]`` with a label on every token; long
texts are cut into ``max_len`` chunks by the packer (:mod:`tailorlm.train.collate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..prompting import build_messages
from ..spec import ObjectiveSpec

IGNORE = -100  # label id that torch's cross-entropy skips


class EncodingError(ValueError):
    """A row cannot be encoded; the message names the record and the fix."""


@dataclass
class Encoded:
    """One tokenized example.

    Attributes:
        input_ids: token ids, length T.
        labels: length T; ``-100`` where no loss is taken.
        record_id: the dataset row's ``id`` (for error messages and previews).
    """

    input_ids: list[int]
    labels: list[int]
    record_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_loss_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def template_ids(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    """``messages`` through the tokenizer's chat template, as token ids."""
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=add_generation_prompt, return_dict=True
    )
    return list(out["input_ids"])


def encode_sft(
    example: dict[str, Any],
    tokenizer,
    objective: ObjectiveSpec,
    labels: Sequence[str] = (),
    max_len: int | None = None,
    list_labels: bool = True,
    shots: Sequence[dict[str, Any]] = (),
) -> Encoded:
    """Tokenize one SFT example with loss on the completion and its EOS only.

    Args:
        example: a dataset row with ``prompt`` (JSON chat messages) and ``completion``.
        tokenizer: a Hugging Face tokenizer with a chat template.
        objective: the spec's objective (decides the system prompt).
        labels: the dataset's label set (listed in the system prompt for classification).
        max_len: maximum tokens; a longer example raises :class:`EncodingError` (callers count and
            report it rather than silently truncating the answer away).
        list_labels: list the labels in the system prompt (``train.labels_in_prompt``).
        shots: retrieved training examples shown as prior turns (``train.retrieved_examples``).

    Returns:
        The ids and labels; ``labels[-1]`` is the tokenizer's EOS id.
    """
    rid = str(example.get("id", ""))
    completion = example.get("completion")
    if completion is None or str(completion).strip() == "":
        raise EncodingError(f"record {rid!r}: empty completion; SFT needs a target answer for every row.")
    messages = build_messages(example, objective, labels, shots=shots, list_labels=list_labels)
    prompt_ids = template_ids(tokenizer, messages, add_generation_prompt=True)
    full_ids = template_ids(
        tokenizer, messages + [{"role": "assistant", "content": str(completion)}], add_generation_prompt=False
    )
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise EncodingError(
            f"record {rid!r}: the chat template does not render the prompt as a prefix of the full "
            "conversation, so the answer tokens cannot be located. Use a model whose template is "
            "prefix-stable (most instruct models are)."
        )
    eos = tokenizer.eos_token_id
    answer = full_ids[len(prompt_ids):]
    # Cut after the last EOS of the answer turn (drop trailing newline tokens); if the template
    # writes no EOS at all, append one so the model still learns to stop.
    if eos in answer:
        cut = len(answer) - answer[::-1].index(eos)
        answer = answer[:cut]
    else:
        answer = answer + [eos]
    ids = prompt_ids + answer
    if max_len is not None and len(ids) > max_len:
        raise EncodingError(
            f"record {rid!r}: {len(ids)} tokens exceed the training budget of {max_len} (data.max_seq_len plus "
            "the shared instruction). Prepare the dataset again ('tailorlm data prepare' applies "
            "data.length_policy) or raise data.max_seq_len."
        )
    return Encoded(input_ids=ids, labels=[IGNORE] * len(prompt_ids) + answer, record_id=rid)


def encode_text(example: dict[str, Any], tokenizer) -> Encoded:
    """Tokenize one raw text for continued pretraining: every token, plus EOS, carries the loss."""
    rid = str(example.get("id", ""))
    text = example.get("text")
    if not isinstance(text, str) or not text.strip():
        raise EncodingError(f"record {rid!r}: empty 'text'; continued pretraining needs raw text in every row.")
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    return Encoded(input_ids=ids, labels=list(ids), record_id=rid)


def show_labels(enc: Encoded, tokenizer) -> list[tuple[str, bool]]:
    """Pairs of (token text, carries loss) for previews (``tailorlm data preview``)."""
    return [(tokenizer.decode([t]), lab != IGNORE) for t, lab in zip(enc.input_ids, enc.labels)]
