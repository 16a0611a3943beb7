"""Many LoRA versions on one base model: loaded on demand, least-recently-used evicted.

A LoRA version (``provenance.json`` method ``lora``, not DoRA, not a classifier head) is not merged
for serving: its adapter is loaded onto one shared copy of its base model (PEFT
``load_adapter``), so ten versions cost one base plus ten small adapters, and rows of different
versions decode in one batch (every row's delta in one pass, see
:mod:`tailorlm.inference.lora_rows`). At most ``max_adapters`` adapters stay loaded; the least
recently used one that no request is using is deleted (``delete_adapter``) to make room (if every
loaded adapter is in use, the pool grows past the bound until one is free). Adapters load and
unload under the pool's ``lock``, which the engine holds around each forward pass, so a batch never
sees an adapter half-loaded. Taking and giving back a loaded adapter only touches the pool's
bookkeeping (its own small lock), never waits for a forward pass: :meth:`release` runs on the
server's event loop, and waiting there for a decoding step would stall every stream. An adapter
kept past the bound is deleted by the first release or load that finds the model free.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any


def is_poolable(model_path: str) -> bool:
    """A plain LoRA causal-LM version: the only kind PEFT can mix per row in one batch."""
    path = Path(model_path)
    try:
        cfg = json.loads((path / "adapter_config.json").read_text())
        prov = json.loads((path / "provenance.json").read_text())
    except (OSError, ValueError):
        return False
    return (cfg.get("peft_type") == "LORA" and not cfg.get("use_dora") and prov.get("method") == "lora"
            and prov.get("head", "lm") != "classifier" and bool(prov.get("base_path")))


class AdapterPool:
    """Shared bases (by base path) with the LoRA adapters of recently used versions on them."""

    def __init__(self, device: str, dtype: str, max_adapters: int = 8):
        self.device, self.dtype, self.max_adapters = device, dtype, max(1, max_adapters)
        self.lock = threading.RLock()  # the models: held around forward passes, loads and deletes
        self._book = threading.Lock()  # _loaded and _users (taken inside ``lock`` when both are)
        self._bases: dict[str, Any] = {}  # base path -> LoadedModel (a PeftModel inside)
        self._loaded: OrderedDict[str, tuple[str, str]] = OrderedDict()  # version id -> (base path, adapter)
        self._users: Counter = Counter()
        self._names = 0
        self.loads = self.evictions = 0

    def get(self, version: str, model_path: str) -> tuple[Any, str]:
        """(the shared LoadedModel, the adapter name) for ``version``; the caller must :meth:`release`."""
        taken = self._take(version)  # loaded already: no need to wait for the model
        if taken is not None:
            return taken
        with self.lock:
            taken = self._take(version)  # loaded by another request meanwhile
            if taken is not None:
                return taken
            base, name = self._load(model_path)
            with self._book:
                self._loaded[version] = (base, name)
                self._users[name] += 1  # in use before anything is evicted: never the one just loaded
            self._evict()
            return self._bases[base], name

    def _take(self, version: str) -> tuple[Any, str] | None:
        with self._book:
            if version not in self._loaded:
                return None
            self._loaded.move_to_end(version)
            base, name = self._loaded[version]
            self._users[name] += 1
            return self._bases[base], name

    def release(self, adapter: str) -> None:
        with self._book:
            self._users[adapter] -= 1
        if self.lock.acquire(blocking=False):  # never wait for a forward pass (module doc)
            try:
                self._evict()  # an adapter kept past the bound while in use can go now
            finally:
                self.lock.release()

    @property
    def loaded(self) -> list[str]:
        """Versions whose adapters are loaded, least recently used first."""
        return list(self._loaded)

    def _load(self, model_path: str) -> tuple[str, str]:
        from ..models.trained import load_trained

        base = json.loads((Path(model_path) / "provenance.json").read_text())["base_path"]
        self._names += 1
        name = f"v{self._names}"
        if base not in self._bases:
            loaded = load_trained(model_path, self.device, self.dtype, merge=False)  # PeftModel, adapter "default"
            loaded.model.load_adapter(model_path, adapter_name=name)
            loaded.model.delete_adapter("default")
            self._bases[base] = loaded
        else:
            self._bases[base].model.load_adapter(model_path, adapter_name=name)
        from ..models.precision import for_inference

        for_inference(self._bases[base])  # the new adapter in the base's inference dtype
        self._bases[base].model.eval()
        self.loads += 1
        return base, name

    def _evict(self) -> None:
        """Delete free adapters past the bound, least recently used first (call under ``lock``)."""
        from ..inference.lora_rows import forget

        for version in list(self._loaded):
            with self._book:
                if len(self._loaded) <= self.max_adapters:
                    return
                base, name = self._loaded[version]
                peft = self._bases[base].model
                if self._users[name] > 0 or len(peft.peft_config) <= 1:
                    continue  # in use, or the base's last adapter (PEFT keeps one)
                del self._loaded[version]  # no request can take it from here on
            forget(peft, name)
            peft.delete_adapter(name)
            self.evictions += 1
