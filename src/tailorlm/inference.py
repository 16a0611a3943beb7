"""Batched greedy generation: the engine behind evaluation (and, later, serving).

Prompts are tokenized once, sorted by length (so a batch holds prompts of similar length and little
padding is computed), left-padded (so every sequence's next token sits in the last column) and
decoded greedily until every sequence in the batch has produced EOS or ``max_new_tokens`` is reached.

Latency definition (documented in docs/evaluation.md): a batch's wall time is attributed to its
examples in proportion to the tokens each one processed (prompt + generated). It is the amortized
compute time one request costs when requests are served in batches of ``batch_size``; the per-example
values of a batch sum to that batch's wall time. ``bench/eval_throughput.py`` reports unbatched
latency for comparison.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

Message = dict[str, str]


@dataclass
class Generation:
    """One generated answer.

    Attributes:
        text: the decoded completion, special tokens removed, stripped.
        prompt_tokens: tokens in the prompt (chat template applied).
        completion_tokens: generated tokens, EOS included when it was produced.
        latency_ms: this example's share of its batch's wall time (see the module docstring).
        finished: True when the model produced EOS within ``max_new_tokens``.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    finished: bool


def encode_chats(tokenizer: Any, chats: Sequence[list[Message]]) -> list[list[int]]:
    """Apply the chat template (with the assistant header appended) and tokenize each chat."""
    out = []
    for messages in chats:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # BatchEncoding in newer transformers
            ids = ids["input_ids"]
        out.append(list(ids))
    return out


def stop_token_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """Token ids that end a generation: the tokenizer's EOS plus the model's configured EOS ids."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    cfg_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(cfg_eos, int):
        ids.add(cfg_eos)
    elif isinstance(cfg_eos, (list, tuple)):
        ids.update(int(i) for i in cfg_eos)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() else None
    if im_end is not None:
        ids.add(int(im_end))
    return sorted(ids)


def _left_pad(batch: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) input ids and attention mask, padded on the left to the longest prompt."""
    width = max(len(x) for x in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, width - len(x):] = torch.tensor(x, dtype=torch.long)
        mask[i, width - len(x):] = 1
    return ids, mask


def _trim(new_tokens: list[int], stops: set[int]) -> tuple[list[int], int, bool]:
    """Cut a generated row at its first stop token: (kept ids, tokens generated, finished)."""
    for j, t in enumerate(new_tokens):
        if t in stops:
            return new_tokens[:j], j + 1, True
    return new_tokens, len(new_tokens), False


def generate_batch(model: Any, tokenizer: Any, batch: list[list[int]], max_new_tokens: int,
                   stops: list[int], autocast: Any) -> tuple[list[list[int]], list[int], list[bool]]:
    """Greedy-decode one batch of token-id prompts; returns (completions, generated counts, finished)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    ids, mask = _left_pad(batch, pad_id)
    ids, mask = ids.to(model.device), mask.to(model.device)
    with torch.inference_mode(), autocast:
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            eos_token_id=stops,
            pad_token_id=pad_id,
        )
    rows = out[:, ids.shape[1]:].tolist()  # (B, generated) new tokens only
    texts, counts, finished = [], [], []
    stop_set = set(stops)
    for row in rows:
        kept, n, done = _trim(row, stop_set)
        texts.append(kept)
        counts.append(n)
        finished.append(done)
    return texts, counts, finished


def generate(loaded: Any, prompts: Sequence[list[int]], *, max_new_tokens: int = 16, batch_size: int = 32,
             progress: bool = True, desc: str = "generate") -> list[Generation]:
    """Generate greedily for every prompt (token ids), in length-sorted batches.

    Args:
        loaded: a ``tailorlm.models.LoadedModel`` (model, tokenizer, ``autocast()``).
        prompts: token ids per example (see :func:`encode_chats`).
        max_new_tokens: generation budget per example.
        batch_size: examples per forward batch.
        progress: show a progress bar (tqdm, on stderr).
        desc: progress bar label.

    Returns:
        One :class:`Generation` per prompt, in the input order.
    """
    from tqdm.auto import tqdm

    model, tok = loaded.model, loaded.tokenizer
    model.eval()
    stops = stop_token_ids(tok, model)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch
    results: list[Generation | None] = [None] * len(prompts)
    bar = tqdm(total=len(prompts), desc=desc, unit="ex", disable=not progress, leave=False)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        t0 = time.perf_counter()
        comps, counts, done = generate_batch(
            model, tok, [prompts[i] for i in idx], max_new_tokens, stops, loaded.autocast()
        )
        wall_ms = (time.perf_counter() - t0) * 1000.0
        work = [len(prompts[i]) + counts[k] for k, i in enumerate(idx)]
        total = float(sum(work)) or 1.0
        for k, i in enumerate(idx):
            results[i] = Generation(
                text=tok.decode(comps[k], skip_special_tokens=True).strip(),
                prompt_tokens=len(prompts[i]),
                completion_tokens=counts[k],
                latency_ms=wall_ms * work[k] / total,
                finished=done[k],
            )
        bar.update(len(idx))
    bar.close()
    return [r for r in results if r is not None]


def generate_one_by_one(loaded: Any, prompts: Sequence[list[int]], *, max_new_tokens: int = 16,
                        progress: bool = True) -> list[Generation]:
    """The naive baseline: one ``generate`` call per example (no batching). Used by the benchmark."""
    from tqdm.auto import tqdm

    model, tok = loaded.model, loaded.tokenizer
    model.eval()
    stops = stop_token_ids(tok, model)
    out = []
    for p in tqdm(prompts, desc="one-by-one", unit="ex", disable=not progress, leave=False):
        t0 = time.perf_counter()
        comps, counts, done = generate_batch(model, tok, [list(p)], max_new_tokens, stops, loaded.autocast())
        ms = (time.perf_counter() - t0) * 1000.0
        out.append(Generation(tok.decode(comps[0], skip_special_tokens=True).strip(), len(p), counts[0], ms, done[0]))
    return out
