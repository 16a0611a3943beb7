"""Rows of different LoRA versions in one forward pass, a few tensor operations per layer.

PEFT's per-row ``adapter_names`` runs, in every LoRA layer, a Python loop over the batch's
adapters with row gathers and scatters, after registering a hook on every layer for the call: with
4 versions in a batch of 16, one decoding step of SmolLM2-135M took 170 ms against 103 ms for one
version and 86 ms for the merged weights (``bench/serve_lora_step.py``, quiet 2-core machine).
Here every LoRA ``Linear`` of a pooled base computes the deltas of all the batch's versions at once::

    xa    = x @ A^T           A: the versions' lora_A weights stacked, (sum of their ranks, in)
    xa    = xa * mask         mask (rows, 1, sum of ranks): 1 on the columns of the row's own version
    delta = (xa @ B^T) * s    B: their lora_B weights side by side, (out, sum of ranks); s: the row's scaling
    out   = base(x) + delta

which is PEFT's ``base(x) + lora_B(lora_A(x)) * scaling`` for every row (the other versions'
columns add exact zeros); a row without an adapter (``None``) gets no delta. The same step then
took 1.02x to 1.12x one version's step (against 1.42x to 1.61x with PEFT's path, measured in the
same runs; docs/benchmarks.md). A batch of one version uses that version's own A and B, unstacked.
Stacks (copies of the versions' LoRA weights: ~20 MB a version at r 16 on every linear layer of
SmolLM2-135M) are cached per layer for the last few sets of versions (:data:`STACKS`) and dropped
when an adapter is deleted (:func:`forget`).

The layers' ``forward`` is replaced on the instances of one PEFT model (the adapter pool's shared
base), not on PEFT's class, so training and other models are untouched; outside :func:`rows`, and
with adapters disabled or merged, a layer runs PEFT's own forward.

Only plain LoRA on ``Linear`` layers, in eval mode, takes this path (no DoRA or other variant, no
LoRA bias, no ``modules_to_save`` or trainable tokens, which pick their adapter elsewhere):
:func:`rows` yields False for anything else and the caller uses PEFT's own selection.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

STACKS = 3  # stacked (A, B) kept per layer: sets of versions seen recently

_ATTR = "_tailorlm_rows"


class _State:
    """Per PEFT model: its patched LoRA layers and the row plan of the forward pass running now."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.layers: list[Any] = []
        self.names: tuple = ()  # the adapters (peft_config keys) the layer scan saw
        self.ok = False  # every adapter-carrying module is a plain lora.Linear
        self.plain: dict[str, bool] = {}

    def plan(self) -> "_Plan | None":
        return getattr(self.local, "plan", None)


class _Plan:
    """Which version each row uses, and the masks and scalings derived from it (per column layout)."""

    def __init__(self, adapters: Sequence[str | None], device: torch.device):
        self.adapters = list(adapters)
        self.names = tuple(sorted({a for a in adapters if a is not None}))
        self.single = len(self.names) == 1 and None not in self.adapters
        self.device = device
        self._masks: dict[tuple, tuple[Any, Any]] = {}

    def mask(self, layout: tuple, scalings: tuple) -> tuple[Any, Any]:
        """(mask (rows, 1, columns) or None, scaling: a float or a (rows, 1, 1) tensor) for a layer
        whose stacked columns are ``layout`` ((name, rank) per version) with those ``scalings``."""
        key = (layout, scalings)
        if key not in self._masks:
            offsets, start = {}, 0
            for name, rank in layout:
                offsets[name] = (start, start + rank)
                start += rank
            mask = None
            if not (self.single and len(layout) == 1):
                mask = torch.zeros((len(self.adapters), 1, start), device=self.device)
                for i, a in enumerate(self.adapters):
                    if a in offsets:
                        lo, hi = offsets[a]
                        mask[i, 0, lo:hi] = 1.0
            by_name = dict(zip((n for n, _ in layout), scalings))
            used = {by_name[a] for a in self.adapters if a in by_name}
            if len(used) <= 1:
                scale: Any = used.pop() if used else 1.0
            else:
                scale = torch.tensor([by_name.get(a, 0.0) for a in self.adapters], device=self.device)[:, None, None]
            self._masks[key] = (mask, scale)
        return self._masks[key]


def _lora_linear() -> type:
    from peft.tuners.lora.layer import Linear

    return Linear


def _scan(model: Any, state: _State) -> None:
    """Find (and patch) the model's LoRA layers again: adapters were loaded or deleted since."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    linear = _lora_linear()
    wrappers = ("ModulesToSaveWrapper", "TrainableTokensWrapper", "AuxiliaryTrainingWrapper")
    layers, ok = [], True
    for module in model.modules():
        if type(module) is linear:
            layers.append(module)
            if getattr(module, _ATTR, None) is not state:
                setattr(module, _ATTR, state)
                module.forward = _patched(module, state)
        elif isinstance(module, BaseTunerLayer) or type(module).__name__ in wrappers:
            ok = False
    state.layers, state.ok, state.names = layers, ok, tuple(model.peft_config)


def _plain(state: _State, model: Any, name: str) -> bool:
    """Plain LoRA in every layer that has ``name``: no DoRA or other variant, no bias on lora_B."""
    if name not in state.plain:
        cfg = model.peft_config.get(name)
        state.plain[name] = bool(cfg is not None and getattr(cfg, "peft_type", None) is not None
                                 and str(getattr(cfg.peft_type, "value", cfg.peft_type)) == "LORA"
                                 and not getattr(cfg, "use_dora", False)
                                 and all(name not in layer.lora_variant and layer.lora_B[name].bias is None
                                         for layer in state.layers if name in layer.lora_A))
    return state.plain[name]


def _stack(layer: Any, names: tuple) -> Any:
    """(A, B, layout, scalings) of ``names`` on ``layer`` (those it has), cached; None: none of them."""
    cache = layer.__dict__.setdefault("_tailorlm_stacks", OrderedDict())
    if names in cache:
        cache.move_to_end(names)
        return cache[names]
    own = [n for n in names if n in layer.lora_A]
    if not own:
        entry = None
    elif len(own) == 1:
        (n,) = own
        entry = (layer.lora_A[n].weight, layer.lora_B[n].weight, ((n, layer.lora_A[n].weight.shape[0]),),
                 (layer.scaling[n],))
    else:
        entry = (torch.cat([layer.lora_A[n].weight for n in own], 0), torch.cat([layer.lora_B[n].weight for n in own], 1),
                 tuple((n, layer.lora_A[n].weight.shape[0]) for n in own), tuple(layer.scaling[n] for n in own))
    cache[names] = entry
    while len(cache) > STACKS:
        cache.popitem(last=False)
    return entry


def _patched(layer: Any, state: _State) -> Any:
    peft_forward = _lora_linear().forward

    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        plan = state.plan()
        if plan is None or args or kwargs or layer.disable_adapters or layer.merged_adapters:
            return peft_forward(layer, x, *args, **kwargs)  # PEFT's own path (adapters disabled or merged)
        result = layer.base_layer(x)
        entry = _stack(layer, plan.names)
        if entry is None:
            return result
        a, b, layout, scalings = entry
        mask, scale = plan.mask(layout, scalings)
        xa = F.linear(x.to(a.dtype), a)
        if mask is not None:
            xa = xa * mask.to(xa.dtype)
        return result + (F.linear(xa, b) * scale).to(result.dtype)

    return forward


@contextlib.contextmanager
def rows(model: Any, adapters: Sequence[str | None]) -> Iterator[bool]:
    """Run the forward passes inside with row ``i`` on ``adapters[i]`` (None: the base); yields
    False, changing nothing, when ``model`` is not a PEFT model this path supports (module doc)."""
    if not hasattr(model, "peft_config") or model.training:
        yield False
        return
    state = model.__dict__.get(_ATTR)
    if state is None:
        state = model.__dict__[_ATTR] = _State()
    if state.names != tuple(model.peft_config):
        _scan(model, state)
    names = {a for a in adapters if a is not None}
    if not state.ok or not all(_plain(state, model, n) for n in names):
        yield False
        return
    state.local.plan = _Plan(adapters, model.device)
    try:
        yield True
    finally:
        state.local.plan = None


def forget(model: Any, name: str) -> None:
    """Drop the cached stacks that hold adapter ``name`` (call before deleting it from ``model``)."""
    state = model.__dict__.get(_ATTR)
    if state is None:
        return
    state.plain.pop(name, None)
    for layer in state.layers:
        cache = layer.__dict__.get("_tailorlm_stacks")
        if cache:
            for key in [k for k in cache if name in k]:
                del cache[key]
