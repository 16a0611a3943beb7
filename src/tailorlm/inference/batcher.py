"""The running batch of continuous batching: rows join after their prefill and leave when done.

A :class:`RunningBatch` holds the key/value cache of every row decoding on one model (one base,
with any number of LoRA adapters on it). Rows have different lengths; the cache is kept
left-padded, ``[pad ...][row's tokens]``, with the pads masked out of attention and skipped by
the position ids, the same layout :func:`tailorlm.inference.generate_batch_prefixed` uses (so a
row decodes the tokens it would decode alone; unit-tested). Joining pads the shorter side on the
left and concatenates on the batch dimension; leaving selects the kept rows and trims pad columns
no row needs any more.

Shapes: cache keys/values ``(B, H, T, D)``, ``mask`` ``(B, T)``, ``pos`` and ``nxt`` ``(B,)``.
"""

from __future__ import annotations

import contextlib
import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from ..models.compat import cache_kwargs
from . import common_prefix_len
from . import lora_rows

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed-adapter batch
LORA_ROWS = True  # False: PEFT's own adapter selection for every batch (bench/serve_lora_step.py compares)


KV_ROOM = 64  # spare key/value columns a running batch's cache grows by (0: concatenate every step)


def _layers(cache: Any) -> list:
    return list(cache.layers)


def _head_of(view: torch.Tensor, buf: Any) -> bool:
    """``view`` is ``buf[..., :t, :]`` (the same storage, shape and strides but the length)."""
    return (buf is not None and view.data_ptr() == buf.data_ptr() and view.shape[:-2] == buf.shape[:-2]
            and view.shape[-1] == buf.shape[-1] and view.stride() == buf.stride())


def _roomy_class() -> type:
    """transformers' DynamicLayer, appending each step's keys and values into spare columns.

    DynamicLayer concatenates the whole cache with the new token every step (a copy of every row's
    keys and values, per layer: 14% of a decoding step of SmolLM2-135M at batch 16 here). This one
    keeps ``KV_ROOM`` spare columns after the last one and writes the new ones there; its keys and
    values are views of that buffer. Anything that replaces them (a row joining or leaving) just
    makes the next step allocate a fresh buffer.
    """
    global _ROOMY
    if _ROOMY is None:
        from transformers.cache_utils import DynamicLayer

        class RoomyLayer(DynamicLayer):
            _room: Any = None

            def update(self, key_states, value_states, *args, **kwargs):
                if not self.is_initialized or self.keys is None or self.keys.numel() == 0:
                    return super().update(key_states, value_states, *args, **kwargs)
                t, n = self.keys.shape[-2], key_states.shape[-2]
                kb, vb = self._room or (None, None)
                if not (_head_of(self.keys, kb) and _head_of(self.values, vb) and t + n <= kb.shape[-2]):
                    kb = self.keys.new_empty((*self.keys.shape[:-2], t + n + KV_ROOM, self.keys.shape[-1]))
                    vb = self.values.new_empty((*self.values.shape[:-2], t + n + KV_ROOM, self.values.shape[-1]))
                    kb[..., :t, :] = self.keys
                    vb[..., :t, :] = self.values
                    self._room = (kb, vb)
                kb[..., t:t + n, :] = key_states
                vb[..., t:t + n, :] = value_states
                self.keys, self.values = kb[..., :t + n, :], vb[..., :t + n, :]
                return self.keys, self.values

        _ROOMY = RoomyLayer
    return _ROOMY


_ROOMY: Any = None


def _make_roomy(cache: Any) -> None:
    """Turn the cache's plain DynamicLayers into :func:`_roomy_class` ones (others stay as they are)."""
    if not KV_ROOM:
        return
    from transformers.cache_utils import DynamicLayer

    roomy = _roomy_class()
    for layer in _layers(cache):
        if type(layer) is DynamicLayer:
            layer.__class__ = roomy


def _pad_left(t: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    if n <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = n
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def adapter_kwargs(model: Any, adapters: Sequence[str | None]) -> dict[str, Any]:
    """PEFT's own selection of each row's LoRA adapter (nothing for a plain model), for the models
    :func:`tailorlm.inference.lora_rows.rows` leaves to PEFT (DoRA, ``modules_to_save``...).

    Rows of one adapter: that adapter is made the active one and the forward pass runs PEFT's plain
    LoRA path (measured 1.2x to 3x cheaper per step than the mixed path here, batch 16 to 1: no
    per-layer row gathers, no per-call hooks). Rows of several adapters (or the base): PEFT's
    per-row ``adapter_names``. Call under the adapter pool's lock (the active adapter is shared).
    """
    if not hasattr(model, "peft_config"):
        return {}
    names = set(adapters)
    if len(names) == 1 and None not in names:
        (name,) = names
        if model.active_adapter != name:
            model.set_adapter(name)
        return {}
    return {"adapter_names": [a or BASE_ADAPTER for a in adapters]}


@dataclass
class Prefilled:
    """Rows after their prompts' forward pass: ready to join a :class:`RunningBatch`.

    Row layout ``[shared prefix][pad ...][own tokens]`` (pads masked out, skipped by the positions).
    """

    cache: Any  # DynamicCache with ``rows`` rows, ``(rows, H, T, D)`` per layer
    logits: torch.Tensor  # (rows, V): the next-token logits after each prompt
    mask: torch.Tensor  # (rows, T): 1 = a real token
    pos: torch.Tensor  # (rows,): the position of each row's next token (its prompt length)
    start: int = 0  # prompt tokens that came from a stored prefix cache (not computed in this pass)

    @property
    def length(self) -> int:
        """Columns of the cache (the longest prompt, plus padding)."""
        return int(self.mask.shape[1])

    def select(self, rows: list[int]) -> "Prefilled":
        """Only ``rows`` (in order; a row may repeat: the ``n`` choices of one prompt)."""
        idx = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        for layer in _layers(self.cache):
            layer.keys, layer.values = layer.keys[idx], layer.values[idx]
        return Prefilled(self.cache, self.logits[idx], self.mask[idx], self.pos[idx], self.start)


class PrefixCache:
    """Key/value caches of shared prompt prefixes (the system prompt), per adapter, most recent kept.

    A new prompt reuses the longest stored prefix it starts with; when none fits, the prefix it
    shares with the previous prompt of the same adapter (if at least ``min_len`` tokens) is
    computed once and stored, so the second request of a version pays for its system prompt and
    every later one skips it.
    """

    def __init__(self, max_entries: int = 16, min_len: int = 8):
        self.max_entries, self.min_len = max_entries, min_len
        self._caches: OrderedDict[tuple, Any] = OrderedDict()  # (adapter, tokens) -> cache
        self._last: dict[str | None, list[int]] = {}
        self.hits = 0

    def find(self, adapter: str | None, prompt: list[int]) -> tuple[int, Any]:
        """(prefix length, its cache) to start ``prompt`` from; (0, None) when nothing is stored."""
        best = (0, None)
        for (name, toks), cache in self._caches.items():
            n = len(toks)
            if name == adapter and n > best[0] and n < len(prompt) and tuple(prompt[:n]) == toks:
                best = (n, cache)
        if best[1] is not None:
            self._caches.move_to_end((adapter, tuple(prompt[:best[0]])))
            self.hits += 1
        return best

    def candidate(self, adapter: str | None, prompt: list[int], peer: list[int] | None = None) -> int:
        """Length of the prefix ``prompt`` shares with the adapter's previous prompt (0: too short).

        ``peer``: a prompt prefilled together with this one, compared with when the adapter has
        no previous prompt yet (so the first batch of an evaluation already shares its prefix).
        """
        prev = self._last.get(adapter, peer)
        self._last[adapter] = list(prompt)
        if prev is None:
            return 0
        n = common_prefix_len([prev, prompt])
        return n if n >= self.min_len else 0

    def store(self, adapter: str | None, tokens: list[int], cache: Any) -> None:
        self._caches[(adapter, tuple(tokens))] = cache
        while len(self._caches) > self.max_entries:
            self._caches.popitem(last=False)


def _forward(model: Any, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache: Any,
             adapters: Sequence[str | None]) -> torch.Tensor:
    with (lora_rows.rows(model, adapters) if LORA_ROWS else contextlib.nullcontext(False)) as ours:
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                    **cache_kwargs(model, cache), **({} if ours else adapter_kwargs(model, adapters)))
    return out.logits[:, -1, :]


def _start_of(model: Any, prompt: list[int], adapter: str | None, peer: list[int] | None,
              prefixes: PrefixCache | None) -> tuple[int, Any]:
    """(prefix length, its cache) for ``prompt``: a stored prefix, or one computed and stored now."""
    if prefixes is None:
        return 0, None
    start, cache = prefixes.find(adapter, prompt)
    if cache is None:
        plen = prefixes.candidate(adapter, prompt, peer)
        if plen:
            from transformers import DynamicCache

            dev = model.device
            cache = DynamicCache(config=model.config)
            ids = torch.tensor([prompt[:plen]], device=dev)
            _forward(model, ids, torch.ones_like(ids), torch.arange(plen, device=dev)[None], cache, [adapter])
            prefixes.store(adapter, prompt[:plen], cache)
            start = plen
    return start, cache


def _stack_prefixes(model: Any, caches: list[Any]) -> Any:
    """One cache whose row ``i`` is ``caches[i]`` (each one row, all the same length); fresh if None."""
    from transformers import DynamicCache

    if caches[0] is None:
        return DynamicCache(config=model.config)
    out = copy.deepcopy(caches[0])
    for i, layer in enumerate(_layers(out)):
        layer.keys = torch.cat([_layers(c)[i].keys for c in caches], dim=0)
        layer.values = torch.cat([_layers(c)[i].values for c in caches], dim=0)
    return out


def _prefill_group(model: Any, start: int, prompts: list[list[int]], caches: list[Any],
                   adapters: list[str | None], pad_id: int) -> Prefilled:
    """One forward pass over the own tokens of prompts that share a prefix length ``start``."""
    dev = model.device
    own = [p[start:] for p in prompts]
    width = max(len(x) for x in own)
    ids = torch.full((len(own), width), pad_id, dtype=torch.long)
    smask = torch.zeros((len(own), width), dtype=torch.long)
    for i, x in enumerate(own):  # left-padded: every row's last token sits in the last column
        ids[i, width - len(x):] = torch.tensor(x, dtype=torch.long)
        smask[i, width - len(x):] = 1
    mask = torch.cat([torch.ones(len(own), start, dtype=torch.long), smask], dim=1)  # (B, start + S)
    pos = (start + smask.cumsum(1) - 1).clamp(min=start)  # (B, S); pads get a dummy position
    cache = _stack_prefixes(model, caches)
    mask = mask.to(dev)
    logits = _forward(model, ids.to(dev), mask, pos.to(dev), cache, adapters)  # (B, V)
    lengths = torch.tensor([len(p) for p in prompts], dtype=torch.long, device=dev)
    return Prefilled(cache=cache, logits=logits, mask=mask, pos=lengths, start=start)


def prefill_many(model: Any, prompts: list[list[int]], adapters: list[str | None], prefixes: PrefixCache | None,
                 pad_id: int = 0) -> list[tuple[Prefilled, list[int]]]:
    """Prefill several prompts together: one forward pass per shared-prefix length (usually one).

    Each prompt starts from the longest stored prefix cache of its adapter (see
    :class:`PrefixCache`); prompts of different adapters but the same prefix length share the pass
    (their prefix caches are stacked, and PEFT picks each row's adapter). Returns
    ``(Prefilled, indices of its prompts)`` per pass. Call under ``torch.inference_mode()``.
    """
    groups: dict[int, list[tuple[int, Any]]] = {}
    for i, (prompt, adapter) in enumerate(zip(prompts, adapters)):
        peer = next((q for j, q in enumerate(prompts) if j != i and adapters[j] == adapter), None)
        start, cache = _start_of(model, prompt, adapter, peer, prefixes)
        groups.setdefault(start, []).append((i, cache))
    out = []
    for start, members in groups.items():
        idx = [i for i, _ in members]
        pre = _prefill_group(model, start, [prompts[i] for i in idx], [c for _, c in members],
                             [adapters[i] for i in idx], pad_id)
        out.append((pre, idx))
    return out


def prefill(model: Any, prompt: list[int], adapter: str | None, rows: int, prefixes: PrefixCache | None) -> Prefilled:
    """Run ``prompt`` through ``model`` (batch of 1; from a stored prefix cache when one fits), then
    repeat it for ``rows`` choices. Call under ``torch.inference_mode()`` and the autocast."""
    (pre, _), = prefill_many(model, [prompt], [adapter], prefixes)
    return pre.select([0] * rows) if rows > 1 else pre


@dataclass
class RunningBatch:
    """The rows decoding together on ``model``; ``owners[i]`` is whoever row ``i`` belongs to."""

    model: Any
    cache: Any = None
    mask: torch.Tensor | None = None  # (B, T) 1 = a real token
    pos: torch.Tensor | None = None  # (B,) the position of the next input token
    nxt: torch.Tensor | None = None  # (B,) the next input token
    owners: list[Any] = field(default_factory=list)
    adapters: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.owners)

    def join(self, pre: Prefilled, first: torch.Tensor, owners: list[Any], adapters: list[str | None]) -> None:
        """Add prefilled rows (``owners[i]`` and ``adapters[i]`` per row) whose next input tokens are
        ``first`` ``(rows,)``."""
        dev = self.model.device
        mask, pos = pre.mask.to(dev), pre.pos.to(dev)
        if self.cache is None:
            self.cache, self.mask, self.pos, self.nxt = pre.cache, mask, pos, first.to(dev)
        else:
            width = max(self.mask.shape[1], pre.length)
            grow, new = width - self.mask.shape[1], width - pre.length
            for mine, theirs in zip(_layers(self.cache), _layers(pre.cache)):
                mine.keys = torch.cat([_pad_left(mine.keys, grow, -2), _pad_left(theirs.keys, new, -2)], dim=0)
                mine.values = torch.cat([_pad_left(mine.values, grow, -2), _pad_left(theirs.values, new, -2)], dim=0)
            self.mask = torch.cat([_pad_left(self.mask, grow, 1), _pad_left(mask, new, 1)], dim=0)
            self.pos = torch.cat([self.pos, pos])
            self.nxt = torch.cat([self.nxt, first.to(dev)])
        self.owners += list(owners)
        self.adapters += list(adapters)

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (in order); trims pad columns that no kept row needs."""
        if not rows:
            self.cache = self.mask = self.pos = self.nxt = None
            self.owners, self.adapters = [], []
            return
        idx = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        mask = self.mask[idx]
        used = mask.any(0).nonzero()
        cut = int(used[0]) if len(used) else 0  # leading columns that are padding in every kept row
        for layer in _layers(self.cache):
            layer.keys = layer.keys[idx][..., cut:, :]
            layer.values = layer.values[idx][..., cut:, :]
        self.mask, self.pos, self.nxt = mask[:, cut:], self.pos[idx], self.nxt[idx]
        self.owners = [self.owners[i] for i in rows]
        self.adapters = [self.adapters[i] for i in rows]

    def step(self) -> torch.Tensor:
        """One decoding step for every row: feeds ``nxt``, returns the next-token logits ``(B, V)``."""
        dev = self.mask.device
        _make_roomy(self.cache)
        self.mask = torch.cat([self.mask, torch.ones((len(self), 1), dtype=self.mask.dtype, device=dev)], dim=1)
        logits = _forward(self.model, self.nxt[:, None], self.mask, self.pos[:, None], self.cache, self.adapters)
        self.pos = self.pos + 1
        return logits
