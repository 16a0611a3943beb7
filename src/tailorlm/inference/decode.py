"""One request's decoding loop: sampling, stop strings, logprobs, constraints, cancellation.

The prompt is prefilled once (batch of 1); its key/value cache is repeated for the ``n`` choices,
which then decode together, one token per row per step. Each step yields the text each row may show
so far: text that could still turn into a stop string, or that ends in half a UTF-8 character, is
held back until it cannot. Greedy decoding (``temperature`` 0) takes the same argmax as
:func:`tailorlm.inference.generate`, so an answer equals evaluation's for the same prompt.

PEFT prompt-learning models (prefix / prompt tuning) own the key/value cache, so for them every
step recomputes the whole sequence (slower, same tokens).
"""

from __future__ import annotations

import math
import weakref

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch

from . import autocast_context, stop_token_ids, supports_prefix_cache
from ..models.compat import cache_kwargs

Constraint = Callable[[list[int]], list[int]]  # token sequence so far -> allowed next token ids


@dataclass
class SamplingParams:
    """How to pick tokens. ``temperature`` 0 is greedy; ``seed`` makes sampling repeatable."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    logprobs: bool = False
    top_logprobs: int = 0
    copy_bias: float = 0.0  # logit bonus for the token that continues a span of the prompt (CopyLookup)
    no_repeat: int = 0  # > 0: no answer repeats a run of this many tokens it already contains


@dataclass
class TokenLogprob:
    """A generated token with its log-probability under the model and the most likely alternatives."""

    token: str
    logprob: float
    bytes: list[int]
    top: list[tuple[str, float, list[int]]] = field(default_factory=list)


@dataclass
class Delta:
    """What one choice adds in one step. ``finish_reason`` is set on the row's last delta."""

    index: int
    text: str
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    completion_tokens: int = 0


@dataclass
class _Row:
    ids: list[int] = field(default_factory=list)
    shown: int = 0  # characters of the decoded text already emitted
    finish: str | None = None
    _seen: dict = field(default_factory=dict)  # (span - 1)-token run of the answer -> tokens that followed it
    _indexed: int = 0  # runs starting before this position are in _seen

    def repeats(self, span: int) -> set[int]:
        """Tokens that would make the answer repeat a ``span``-token run it already contains (one span
        per row: the version's ``repeat_limit``)."""
        n = span - 1
        if n < 1 or len(self.ids) < n:
            return set()
        while self._indexed + n < len(self.ids):
            i = self._indexed
            self._seen.setdefault(tuple(self.ids[i:i + n]), set()).add(self.ids[i + n])
            self._indexed += 1
        return self._seen.get(tuple(self.ids[-n:]), set())


def is_classifier(model: Any) -> bool:
    """A sequence-classification model (a ``train.head: classifier`` version), merged or PEFT-wrapped."""
    inner = getattr(getattr(model, "base_model", None), "model", None)
    return any("ForSequenceClassification" in type(m).__name__ for m in (model, inner) if m is not None)


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Characters at the end of ``text`` that may still grow into a stop string (or a whole character)."""
    keep = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                keep = max(keep, k)
                break
    if text.endswith("\ufffd"):  # half a UTF-8 character: wait for the rest
        keep = max(keep, 1)
    return keep


def _token_info(tok: Any, token_id: int) -> tuple[str, list[int]]:
    text = tok.decode([token_id])
    return text, list(text.encode("utf-8"))


COPY_NGRAMS = (4, 3, 2)  # suffix lengths tried, longest first; a single token matches too much to mean a span


class CopyLookup:
    """Where the answer so far continues a span of the prompt's assistant replies: the token after the
    last place in them where the answer's last 4 (else 3, else 2) tokens occur, or None.

    Decoding with ``SamplingParams.copy_bias`` adds that bias to this token's logit, so a version shown a
    retrieved example (``train.retrieved_examples``) keeps to the example's answer unless the model
    clearly prefers another token. Only assistant replies are copied (the example's answer, and earlier
    replies of a chat), never the user's turns: a pointer that followed the message after copying its
    order number went on to echo the message ("let's get order 4146324805. Can I get it in black
    instead?") and lost its place in the example (bench/copy_bias_sweep.py on validation rows: ROUGE-L
    0.480 -> 0.482). Numbers are the exception: where the message's own text continues with a digit
    and the example's answer would write a digit or nothing, the message's digit is proposed, so an
    order number or amount comes from the message, not from the example. At the first step the suffix
    is the assistant header, and its *first* earlier occurrence opens the answer of the nearest example
    (examples come before the conversation, nearest first), not an earlier reply of a multi-turn chat.
    Only the prompt is searched, never the answer itself, so the bias cannot feed a loop within an
    answer. The bias is added before temperature scaling (at temperature ``T`` it weighs
    ``copy_bias / T``). Dictionaries per prompt, built once (``len(prompt)`` x 3 entries); a look-up
    per row and step is a few dict probes.

    Args:
        prompt: the prompt's token ids, ending with the assistant ``header``.
        header: the template's assistant header (:func:`assistant_header`); without one, or when the
            prompt does not end with it, every span of the prompt may be copied.
        is_digit: whether a token id is a number's digits (``Decoder`` decodes it); None: never.
    """

    def __init__(self, prompt: Sequence[int], header: Sequence[int] | None = None,
                 is_digit: Callable[[int], bool] | None = None):
        self.prompt = prompt
        self._next: dict[tuple[int, ...], int] = {}  # in assistant replies, the last occurrence wins
        self._first: dict[tuple[int, ...], int] = {}  # in assistant replies, the first occurrence
        self._said: dict[tuple[int, ...], int] = {}  # in the other turns (the message), the last occurrence
        self._is_digit = is_digit or (lambda _t: False)
        replies = _reply_mask(prompt, header)
        for n in COPY_NGRAMS:
            for i in range(len(prompt) - n):
                key, nxt = tuple(prompt[i:i + n]), prompt[i + n]
                if replies is None or replies[i + n]:
                    self._next[key] = nxt
                    self._first.setdefault(key, nxt)
                else:
                    self._said[key] = nxt

    def next_token(self, answer: Sequence[int]) -> int | None:
        n_max = max(COPY_NGRAMS)
        seq = list(self.prompt[-n_max:]) + list(answer[-n_max:])  # the last n_max tokens are all it needs
        if not answer:
            return _longest(self._first, seq)
        reply, said = _longest(self._next, seq), _longest(self._said, seq)
        if said is not None and self._is_digit(said) and (reply is None or self._is_digit(reply)):
            return said
        return reply


def _longest(table: dict[tuple[int, ...], int], seq: Sequence[int]) -> int | None:
    """The entry of the longest suffix of ``seq`` (4, 3 or 2 tokens) in ``table``, or None."""
    for n in COPY_NGRAMS:
        hit = table.get(tuple(seq[-n:]))
        if hit is not None:
            return hit
    return None


def _reply_mask(prompt: Sequence[int], header: Sequence[int] | None) -> list[bool] | None:
    """For each prompt position, whether it lies in an assistant reply: after an occurrence of the
    assistant ``header`` and before the next turn (the header's first token, which opens every turn in
    the chat templates tailorlm knows); None when there is no header to find (copy from everywhere)."""
    h = list(header or [])
    if not h or len(prompt) < len(h) or list(prompt[-len(h):]) != h:
        return None
    mask, inside, i = [False] * len(prompt), False, 0
    while i < len(prompt):
        if list(prompt[i:i + len(h)]) == h:
            inside, i = True, i + len(h)
            continue
        if prompt[i] == h[0]:
            inside = False
        mask[i] = inside
        i += 1
    return mask


def assistant_header(tok: Any) -> list[int]:
    """The token ids ``add_generation_prompt`` appends to a chat (the assistant turn's header); [] when
    the tokenizer has no chat template or the header cannot be told apart."""
    from ..train.tokenize import template_ids

    probe = [{"role": "user", "content": "Hello"}]
    try:
        with_header = template_ids(tok, probe, add_generation_prompt=True)
        without = template_ids(tok, probe, add_generation_prompt=False)
    except Exception:  # no chat template
        return []
    if len(with_header) <= len(without) or with_header[:len(without)] != without:
        return []
    return with_header[len(without):]


_FACTS: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _facts(tok: Any) -> dict:
    """What decoding has worked out about a tokenizer (its assistant header, which tokens are digits),
    kept while the tokenizer lives; a fresh dict for a tokenizer that cannot be weakly referenced."""
    try:
        return _FACTS.setdefault(tok, {})
    except TypeError:
        return {}


def _pick(logits: torch.Tensor, params: SamplingParams, gen: torch.Generator | None) -> torch.Tensor:
    """(B, V) processed logits -> (B,) next tokens."""
    if params.temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > params.top_p  # keep the smallest set reaching top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


class Decoder:
    """Decodes one request on a loaded model (a ``tailorlm.models.LoadedModel``)."""

    def __init__(self, loaded: Any, autocast: str | None = "off"):
        """``autocast``: as ``eval.bf16_autocast`` (default ``off``, the evaluation's default), so a
        greedy answer is computed in the same precision as evaluation computed it."""
        self.loaded, self.autocast = loaded, autocast
        self.model, self.tok = loaded.model, loaded.tokenizer
        self.classifier = is_classifier(self.model)
        self.stop_ids = set() if self.classifier else set(stop_token_ids(self.tok, self.model))
        self.cached = not self.classifier and supports_prefix_cache(self.model)
        self._copy: CopyLookup | None = None  # the copy_bias look-up of the prompt decoded last

    def _forward(self, ids: torch.Tensor, cache: Any) -> torch.Tensor:
        if cache is None:
            return self.model(input_ids=ids, use_cache=False, logits_to_keep=1).logits[:, -1, :]
        return self.model(input_ids=ids, use_cache=True, logits_to_keep=1, **cache_kwargs(self.model, cache)).logits[:, -1, :]

    def run(self, prompt: list[int], params: SamplingParams, cancelled: Callable[[], bool] = lambda: False,
            constraint: Constraint | None = None) -> Iterator[list[Delta]]:
        """Yield, step by step, the deltas of the rows that changed; the last ones carry finish reasons."""
        from transformers import DynamicCache

        if self.classifier:
            yield self._classify(prompt, params)
            return

        dev = self.model.device
        gen = None
        if params.temperature > 0:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(params.seed) if params.seed is not None else gen.seed()
        rows = [_Row() for _ in range(params.n)]
        with torch.inference_mode(), autocast_context(self.loaded, self.autocast):
            cache = DynamicCache(config=self.model.config) if self.cached else None
            logits = self._forward(torch.tensor([prompt], device=dev), cache)  # (1, V)
            logits = logits.expand(params.n, -1)
            if cache is not None and params.n > 1:
                cache.batch_repeat_interleave(params.n)
            for step in range(params.max_tokens):
                if cancelled():
                    return
                nxt, chosen_from = self._choose(logits, prompt, rows, params, gen, constraint)
                yield self._advance(rows, nxt, chosen_from, params, last=step + 1 >= params.max_tokens)
                if all(r.finish for r in rows):
                    return
                if cache is not None:
                    logits = self._forward(nxt.to(dev)[:, None], cache)
                else:
                    full = [prompt + r.ids for r in rows]
                    logits = self._forward(torch.tensor(full, device=dev), None)

    def _classify(self, prompt: list[int], params: SamplingParams) -> list[Delta]:
        """A classifier-head version answers in one step: a label (argmax, or sampled at temperature > 0),
        its log-probability as the answer's one "token" and the most likely labels as alternatives."""
        with torch.inference_mode(), autocast_context(self.loaded, self.autocast):
            logits = self.model(input_ids=torch.tensor([prompt], device=self.model.device)).logits[0].float()
        labels = [str(self.model.config.id2label[i]) for i in range(logits.shape[-1])]
        logp = torch.log_softmax(logits, dim=-1).cpu()
        gen = None
        if params.temperature > 0:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(params.seed) if params.seed is not None else gen.seed()
        picks = _pick(logp.expand(params.n, -1).clone(), params, gen)
        out = []
        for i, k in enumerate(int(x) for x in picks):
            lps = []
            if params.logprobs:
                top = [(labels[int(j)], float(v), list(labels[int(j)].encode("utf-8")))
                       for v, j in zip(*logp.topk(min(params.top_logprobs, len(labels))))] if params.top_logprobs else []
                lps = [TokenLogprob(token=labels[k], logprob=float(logp[k]), bytes=list(labels[k].encode("utf-8")),
                                    top=top)]
            n_tokens = len(self.tok.encode(labels[k], add_special_tokens=False))
            out.append(Delta(index=i, text=labels[k], logprobs=lps, finish_reason="stop", completion_tokens=n_tokens))
        return out

    def _assistant_header(self) -> list[int]:
        """The tokens the chat template appends to open the assistant's turn ([] without a template);
        worked out once per tokenizer (the engine makes a decoder per request)."""
        facts = _facts(self.tok)
        if "header" not in facts:
            facts["header"] = assistant_header(self.tok)
        return facts["header"]

    def _is_digit(self, token: int) -> bool:
        """Whether ``token`` decodes to digits (with or without a leading space); cached per tokenizer."""
        digits = _facts(self.tok).setdefault("digits", {})
        if token not in digits:
            digits[token] = self.tok.decode([token]).strip().isdigit()
        return digits[token]

    def _lookup(self, prompt: list[int]) -> CopyLookup:
        """The prompt's :class:`CopyLookup`, built on its first step. The engine makes one decoder per
        request, whose prompt list stays the same object; ``tailorlm chat`` reuses one across turns."""
        if self._copy is None or self._copy.prompt is not prompt:
            self._copy = CopyLookup(prompt, self._assistant_header(), self._is_digit)
        return self._copy

    def _choose(self, logits, prompt, rows, params, gen, constraint) -> tuple[torch.Tensor, torch.Tensor]:
        """(next tokens, the logits they were chosen from: masked to the allowed tokens under a
        constraint, so reported log-probabilities are the model's over the tokens it may write; the
        ``copy_bias`` bonus steers the choice but is not in the reported log-probabilities)."""
        work = logits.float().clone()
        if constraint is not None:
            for i, r in enumerate(rows):
                if r.finish:
                    continue
                allowed = constraint(prompt + r.ids)
                mask = torch.full_like(work[i], float("-inf"))
                mask[torch.tensor(allowed, dtype=torch.long, device=work.device)] = 0.0
                work[i] = work[i] + mask
        banned = [(i, b) for i, r in enumerate(rows) if params.no_repeat and not r.finish
                  for b in [r.repeats(params.no_repeat)] if b]
        if not params.copy_bias and not banned:
            return _pick(work, params, gen).cpu(), work
        steer = work.clone()
        for i, b in banned:
            steer[i, torch.tensor(sorted(b), dtype=torch.long, device=work.device)] = float("-inf")
            if not torch.isfinite(steer[i]).any():  # every token a constraint allows would repeat: allow them
                steer[i] = work[i]
        if not params.copy_bias:
            return _pick(steer, params, gen).cpu(), work
        lookup = self._lookup(prompt)
        for i, r in enumerate(rows):
            hit = None if r.finish else lookup.next_token(r.ids)
            if hit is not None:
                steer[i, hit] += params.copy_bias
        return _pick(steer, params, gen).cpu(), work

    def _advance(self, rows: list[_Row], nxt: torch.Tensor, logits: torch.Tensor, params: SamplingParams,
                 last: bool) -> list[Delta]:
        logp = torch.log_softmax(logits.float(), dim=-1) if params.logprobs else None  # -inf for masked tokens
        out = []
        for i, r in enumerate(rows):
            if r.finish:
                continue
            t = int(nxt[i])
            r.ids.append(t)
            lps = [self._logprob(logp[i], t, params.top_logprobs)] if logp is not None else []
            if t in self.stop_ids:
                r.finish = "stop"
                text = self.tok.decode(r.ids[:-1], skip_special_tokens=True)
            else:
                text = self.tok.decode(r.ids, skip_special_tokens=True)
            hits = [h for h in (text.find(s, max(0, r.shown - len(s))) for s in params.stop) if h >= 0]
            cut = min(hits) if hits else -1
            if cut >= 0:
                text, r.finish = text[:cut], "stop"
            elif r.finish is None and last:
                r.finish = "length"
            end = len(text) if r.finish else len(text) - _held_back(text, params.stop)
            piece = text[r.shown:end] if end > r.shown else ""
            r.shown = max(r.shown, end)
            out.append(Delta(index=i, text=piece, logprobs=lps, finish_reason=r.finish, completion_tokens=len(r.ids)))
        return out

    def _logprob(self, row_logp: torch.Tensor, token: int, top: int) -> TokenLogprob:
        text, raw = _token_info(self.tok, token)
        alts = []
        if top > 0:
            vals, idx = row_logp.topk(top)
            # under a constraint only the allowed tokens are alternatives (the rest are -inf)
            alts = [(*_token_info(self.tok, int(j)), float(v)) for v, j in zip(vals, idx) if math.isfinite(float(v))]
            alts = [(a[0], a[2], a[1]) for a in alts]
        return TokenLogprob(token=text, logprob=float(row_logp[token]), bytes=raw, top=alts)
