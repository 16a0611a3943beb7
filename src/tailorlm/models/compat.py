"""Keyword names that changed across transformers releases, followed in one place.

transformers 5.2x renamed the forward argument ``past_key_values`` to ``cache`` (the old name warns
and goes away in 5.40); older releases we support (``transformers>=4.46``) only know the old one.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any


@functools.lru_cache(maxsize=None)
def _forward_params(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls.forward).parameters)


def _underlying(model: Any) -> Any:
    """The transformers model under DDP/accelerate (``.module``) and PEFT (``get_base_model()``) wrappers."""
    model = getattr(model, "module", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """``{"cache": cache}`` where the model's forward takes ``cache``, else ``{"past_key_values": cache}``."""
    name = "cache" if "cache" in _forward_params(type(_underlying(model))) else "past_key_values"
    return {name: cache}
