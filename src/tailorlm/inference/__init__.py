"""Greedy generation for evaluation, through the serving engine; the engine's building blocks.

:func:`generate` (what ``tailorlm eval`` calls) submits every prompt, in length order, as a greedy
job to the same continuous-batching :class:`~tailorlm.inference.engine.BatchEngine` that
``tailorlm serve`` runs, so a greedy request gets the same answer from both (unit-tested). Rows
join the running batch as others finish; the jobs that join together are prefilled in one forward
pass, each from the shared prefix's key/value cache (system prompt with the label list, few-shot
turns): row layout ``[prefix][pad...][own tokens]`` with the pads masked out and skipped by the
position ids, which gives the same answers as plain left-padded ``generate`` (unit-tested).

Latency definition (documented in docs/evaluation.md): each forward pass's wall time is split among
the examples in it in proportion to the tokens each one computed in that pass (prompt tokens not
covered by the prefix cache in its prefill, one per decoding step); an example's latency is the sum
of its shares. It is the amortized compute time one request costs when requests are served in
batches of ``batch_size``; the per-example values sum to the time spent in forward passes.
``bench/eval_throughput.py`` reports unbatched latency for comparison.

:func:`generate_static` is the earlier static-batch path (fixed length-sorted batches decoded to
their longest answer), kept as the benchmark's comparison point.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..models.compat import cache_kwargs
from ..models.precision import autocast_context  # noqa: F401 (the one precision decision; re-exported)

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
    # convert_tokens_to_ids, not ``in get_vocab()``: building the vocabulary dict costs ~40 ms per call,
    # paid by every served request. An unknown token maps to the unk id (or None).
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
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
    return _trim_rows(out[:, ids.shape[1]:].tolist(), set(stops))  # new tokens only


def common_prefix_len(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every prompt shares, leaving at least one own token per prompt."""
    if not prompts:
        return 0
    first = prompts[0]
    n = min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        i = 0
        while i < n and p[i] == first[i]:
            i += 1
        n = i
    return max(n, 0)


def supports_prefix_cache(model: Any) -> bool:
    """False for PEFT prompt-learning models (prefix/prompt tuning own the key/value cache)."""
    cfg = getattr(model, "active_peft_config", None)
    return not (cfg is not None and getattr(cfg, "is_prompt_learning", False))


def prefill_prefix(model: Any, prefix: Sequence[int], autocast: Any) -> Any:
    """Key/value cache of the shared prefix, computed once (batch of 1)."""
    from transformers import DynamicCache

    ids = torch.tensor([list(prefix)], dtype=torch.long, device=model.device)
    cache = DynamicCache(config=model.config)
    with torch.inference_mode(), autocast:
        model(input_ids=ids, use_cache=True, logits_to_keep=1, **cache_kwargs(model, cache))  # fills it in place
    return cache


def generate_batch_prefixed(model: Any, tokenizer: Any, prefix_cache: Any, prefix_len: int,
                            suffixes: list[list[int]], max_new_tokens: int, stops: list[int],
                            autocast: Any) -> tuple[list[list[int]], list[int], list[bool]]:
    """Greedy decoding of ``prefix + suffix`` for each suffix, reusing the prefix's key/value cache.

    Layout per row: ``[prefix (P)] [pad ...] [suffix]``; pads are masked out and positions skip them,
    so each row computes exactly what ``generate`` computes on its full left-padded prompt.
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    ids, smask = _left_pad(suffixes, pad_id)  # (B, S)
    bsz = ids.shape[0]
    mask = torch.cat([torch.ones(bsz, prefix_len, dtype=torch.long), smask], dim=1)  # (B, P + S)
    pos = (prefix_len + smask.cumsum(1) - 1).clamp(min=prefix_len)  # (B, S); pads get a dummy position
    cache = copy.deepcopy(prefix_cache)
    cache.batch_repeat_interleave(bsz)
    dev = model.device
    ids, mask, pos = ids.to(dev), mask.to(dev), pos.to(dev)
    stop_t = torch.tensor(stops, device=dev)
    out_tokens = torch.empty((bsz, 0), dtype=torch.long, device=dev)
    done = torch.zeros(bsz, dtype=torch.bool, device=dev)
    with torch.inference_mode(), autocast:
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                    **cache_kwargs(model, cache))  # the cache grows in place, step by step
        for _ in range(max_new_tokens):
            nxt = out.logits[:, -1, :].argmax(-1)  # (B,) greedy
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
            out_tokens = torch.cat([out_tokens, nxt[:, None]], dim=1)
            done |= torch.isin(nxt, stop_t)
            if bool(done.all()) or out_tokens.shape[1] >= max_new_tokens:
                break
            mask = torch.cat([mask, torch.ones(bsz, 1, dtype=mask.dtype, device=dev)], dim=1)
            pos = pos[:, -1:] + 1
            out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos, use_cache=True,
                        logits_to_keep=1, **cache_kwargs(model, cache))
    return _trim_rows(out_tokens.tolist(), set(stops))


def _trim_rows(rows: list[list[int]], stops: set[int]) -> tuple[list[list[int]], list[int], list[bool]]:
    texts, counts, finished = [], [], []
    for row in rows:
        kept, n, ok = _trim(row, stops)
        texts.append(kept)
        counts.append(n)
        finished.append(ok)
    return texts, counts, finished


def generate(loaded: Any, prompts: Sequence[list[int]], *, max_new_tokens: int = 16, batch_size: int = 32,
             progress: bool = True, desc: str = "generate", prefix_cache: bool = True,
             autocast: str | bool | None = None, copy_bias: float = 0.0, no_repeat: int = 0) -> list[Generation]:
    """Generate greedily for every prompt (token ids) through the serving engine.

    Args:
        loaded: a ``tailorlm.models.LoadedModel`` (model, tokenizer, ``autocast()``).
        prompts: token ids per example (see :func:`encode_chats`).
        max_new_tokens: generation budget per example.
        batch_size: rows decoded together (the engine's ``max_batch``).
        progress: show a progress bar (tqdm, on stderr).
        desc: progress bar label.
        prefix_cache: reuse the key/value cache of the prefix prompts share (system prompt,
            few-shot turns).
        autocast: see :func:`autocast_context`.
        copy_bias: the version's recipe's bonus for continuing a span of the prompt
            (:class:`~tailorlm.inference.decode.CopyLookup`); 0 = plain greedy.
        no_repeat: the version's recipe's ``repeat_limit``: no answer repeats a run of this many tokens
            it already contains; 0 = no limit.

    Returns:
        One :class:`Generation` per prompt, in the input order.
    """
    from tqdm.auto import tqdm

    from .decode import SamplingParams
    from .engine import Job, run_jobs

    if not prompts:
        return []
    loaded.model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths join together
    params = SamplingParams(max_tokens=max_new_tokens, temperature=0, copy_bias=copy_bias,
                            no_repeat=no_repeat)
    jobs = [Job(loaded, list(prompts[i]), params, autocast=autocast) for i in order]
    bar = tqdm(total=len(prompts), desc=desc, unit="ex", disable=not progress, leave=False)
    try:
        ends = run_jobs(jobs, batch_size, prefix_cache, on_done=lambda _: bar.update(1))
    finally:
        bar.close()
    results: list[Generation | None] = [None] * len(prompts)
    for i, job, (end,) in zip(order, jobs, ends):
        results[i] = Generation(text=end.text.strip(), prompt_tokens=len(prompts[i]),
                                completion_tokens=end.completion_tokens, latency_ms=job.compute_s * 1000.0,
                                finished=end.finish_reason == "stop")
    return [r for r in results if r is not None]


def generate_static(loaded: Any, prompts: Sequence[list[int]], *, max_new_tokens: int = 16, batch_size: int = 32,
                    progress: bool = True, desc: str = "generate", prefix_cache: bool = True,
                    autocast: str | bool | None = None) -> list[Generation]:
    """Generate greedily for every prompt (token ids), in fixed length-sorted batches (the earlier
    evaluation path, kept for ``bench/eval_throughput.py``).

    Args:
        loaded: a ``tailorlm.models.LoadedModel`` (model, tokenizer, ``autocast()``).
        prompts: token ids per example (see :func:`encode_chats`).
        max_new_tokens: generation budget per example.
        batch_size: examples per forward batch.
        progress: show a progress bar (tqdm, on stderr).
        desc: progress bar label.
        prefix_cache: compute the prefix all prompts share (system prompt, few-shot turns) once and
            reuse its key/value cache in every batch.
        autocast: see :func:`autocast_context`.

    Returns:
        One :class:`Generation` per prompt, in the input order.
    """
    from tqdm.auto import tqdm

    model, tok = loaded.model, loaded.tokenizer
    model.eval()
    stops = stop_token_ids(tok, model)
    ctx = lambda: autocast_context(loaded, autocast)  # noqa: E731 - a fresh context per batch
    plen = common_prefix_len(prompts) if prefix_cache and supports_prefix_cache(model) else 0
    cache = prefill_prefix(model, prompts[0][:plen], ctx()) if plen > 0 else None
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch
    results: list[Generation | None] = [None] * len(prompts)
    bar = tqdm(total=len(prompts), desc=desc, unit="ex", disable=not progress, leave=False)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        t0 = time.perf_counter()
        if cache is not None:
            comps, counts, done = generate_batch_prefixed(
                model, tok, cache, plen, [list(prompts[i][plen:]) for i in idx], max_new_tokens, stops, ctx())
        else:
            comps, counts, done = generate_batch(
                model, tok, [list(prompts[i]) for i in idx], max_new_tokens, stops, ctx())
        wall_ms = (time.perf_counter() - t0) * 1000.0
        work = [len(prompts[i]) - plen + counts[k] for k, i in enumerate(idx)]  # tokens computed per row
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
                        progress: bool = True, autocast: str | bool | None = None) -> list[Generation]:
    """The naive baseline: one ``generate`` call per example (no batching). Used by the benchmark."""
    from tqdm.auto import tqdm

    model, tok = loaded.model, loaded.tokenizer
    model.eval()
    stops = stop_token_ids(tok, model)
    out = []
    for p in tqdm(prompts, desc="one-by-one", unit="ex", disable=not progress, leave=False):
        t0 = time.perf_counter()
        comps, counts, done = generate_batch(model, tok, [list(p)], max_new_tokens, stops,
                                             autocast_context(loaded, autocast))
        ms = (time.perf_counter() - t0) * 1000.0
        out.append(Generation(tok.decode(comps[0], skip_special_tokens=True).strip(), len(p), counts[0], ms, done[0]))
    return out
