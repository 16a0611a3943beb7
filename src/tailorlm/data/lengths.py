"""Token lengths once the chat template is applied, and the ``max_seq_len`` policy.

The rendered text is what training sees: ``prompting.build_messages`` (system instruction +
the example's turns) plus the completion as the final assistant turn, through the tokenizer's
chat template. ``data.max_seq_len`` budgets the example-specific part: the rendered length less
the shared prefix (the system turn with the instruction and label list, the same in every
prompt), so 77 labels cost their tokens once, not against every example. Continued-pretraining
text is counted as plain tokens.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..prompting import build_messages, system_prompt


def render_chat(example: dict[str, Any], objective, labels: Sequence[str], tokenizer, target: str) -> str:
    """The full training string for one example with ``target`` as the assistant turn."""
    msgs = build_messages(example, objective, labels) + [{"role": "assistant", "content": target}]
    return tokenizer.apply_chat_template(msgs, tokenize=False)


def renders(example: dict[str, Any], objective, labels: Sequence[str], tokenizer) -> list[str]:
    """Every string the example becomes in training (two for a preference pair)."""
    if example["kind"] == "text":
        return [example["text"]]
    if example["kind"] == "preference":
        return [render_chat(example, objective, labels, tokenizer, example[k]) for k in ("chosen", "rejected")]
    return [render_chat(example, objective, labels, tokenizer, example["completion"])]


def token_lengths(examples: list[dict[str, Any]], objective, labels: Sequence[str], tokenizer) -> list[int]:
    """Longest rendered length (tokens) per example; one batched tokenizer call."""
    texts, owner = [], []
    for i, ex in enumerate(examples):
        for t in renders(ex, objective, labels, tokenizer):
            texts.append(t)
            owner.append(i)
    lens = [0] * len(examples)
    if texts:
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        for i, seq in zip(owner, ids):
            lens[i] = max(lens[i], len(seq))
    return lens


def shared_tokens(objective, labels: Sequence[str], tokenizer, list_labels: bool = True) -> int:
    """Tokens of the prefix every chat example shares: the rendered system turn alone."""
    if objective.task == "continued_pretraining":
        return 0
    msgs = [{"role": "system", "content": system_prompt(objective, labels if list_labels else ())}]
    text = tokenizer.apply_chat_template(msgs, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _cut(text: str, drop: int, tokenizer) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    keep = max(len(ids) - drop, 0)
    return tokenizer.decode(ids[:keep]) if keep else ""


def truncate(example: dict[str, Any], length: int, max_len: int, objective, labels, tokenizer) -> dict | None:
    """Shorten the example to fit ``max_len`` tokens, keeping the target intact.

    Plain text is cut at the end; chat examples lose the end of their last user turn. Returns
    ``None`` when even an empty user turn does not fit (the target alone is too long).
    """
    ex = dict(example)
    for _ in range(4):  # re-tokenization at the cut can shift a token or two
        over = length - max_len
        if over <= 0:
            return ex
        if ex["kind"] == "text":
            ex["text"] = _cut(ex["text"], over, tokenizer)
        else:
            prompt = json.loads(ex["prompt"]) if isinstance(ex["prompt"], str) else list(ex["prompt"])
            users = [i for i, m in enumerate(prompt) if m["role"] == "user"]
            if not users or not prompt[users[-1]]["content"]:
                return None
            last = users[-1]
            prompt[last] = {"role": "user", "content": _cut(prompt[last]["content"], over + 1, tokenizer)}
            ex["prompt"] = json.dumps(prompt, ensure_ascii=False) if isinstance(ex["prompt"], str) else prompt
        length = token_lengths([ex], objective, labels, tokenizer)[0]
    return ex if length <= max_len else None
