"""What the server can serve: every live registered version (by any registry reference) and the base.

A ``model`` string is resolved on every request by the registry's own resolver
(:func:`tailorlm.registry.resolve`: ``NAME@production``, ``NAME@3``, ``NAME``), so moving an alias
takes effect on the next request. The project's base model is served under its alias
(``model.base`` in tailor.yaml). Loaded weights are kept for the ``serve.max_loaded_models`` most
recently used versions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..prompting import build_messages
from ..registry import RegistryError, list_versions, resolve
from ..spec import ObjectiveSpec

Message = dict[str, str]


class ModelNotFound(Exception):
    """No servable model has this name; ``known`` lists what exists."""

    def __init__(self, message: str, known: list[str]):
        super().__init__(message)
        self.known = known


@dataclass(frozen=True)
class Recipe:
    """How a model's prompt is built: for a registered version, exactly as in its training.

    Attributes:
        objective: the version's stored ``objective:`` section (task, instruction, labels); None for the
            base model, which gets the caller's messages as they are.
        labels: the dataset's label set when the objective lists none (classification).
        list_labels: whether the training prompt listed the labels (the version's stored
            ``prompt_recipe.labels_in_prompt``; versions made before recipes were stored did).
    """

    objective: ObjectiveSpec | None = None
    labels: tuple[str, ...] = ()
    list_labels: bool = True
    head: str = "lm"  # "classifier": the version reads the message alone and answers a label
    max_len: int = 256  # the classifier head's input budget (its data.max_seq_len)
    cue: str = ""  # the text the classifier head's inputs end with (its recipe's ``cue``)
    shots: int = 0  # nearest training examples before the message (the recipe's ``retrieved_examples``)
    examples: Any = field(default=None, compare=False, hash=False)  # their ExampleIndex
    copy_bias: float = 0.0  # decoding bonus for continuing the prompt's spans (the recipe's ``copy_bias``)
    repeat_limit: int = 0  # no answer repeats a run of this many tokens (the recipe's ``repeat_limit``)

    @property
    def task(self) -> str:
        return self.objective.task if self.objective else "chat"

    def messages(self, chat: list[Message]) -> list[Message]:
        """The messages the model sees. For a version: the training system prompt (instruction and labels,
        from :func:`tailorlm.prompting.build_messages`) replaces any system message of the caller; a version
        trained with retrieved examples gets the nearest training examples to the caller's user turns
        before them, as in training and evaluation."""
        if self.objective is None:
            return chat
        row = {"prompt": chat}
        shots = self.examples.nearest([row], self.shots)[0] if self.shots and self.examples is not None else ()
        return build_messages(row, self.objective, self.labels, shots=shots, list_labels=self.list_labels)

    def prompt_ids(self, tokenizer: Any, chat: list[Message]) -> list[int]:
        """Token ids of the chat prompt, assistant header appended (the training/evaluation tokenization).
        A classifier-head version reads the message alone, as it was trained (no template, no system turn)."""
        from ..inference import encode_chats

        if self.head == "classifier":
            from ..models.classifier_head import encode_text_ids, message_text

            return encode_text_ids(tokenizer, message_text(chat), self.max_len, self.cue)
        return encode_chats(tokenizer, [self.messages(chat)])[0]

    def default_max_tokens(self, tokenizer: Any, fallback: int) -> int:
        """Classification answers are a label: longest label + 2 tokens, as evaluation budgets them."""
        labels = list(self.objective.labels or self.labels) if self.objective else []
        if self.task == "classification" and labels:
            return max(len(tokenizer.encode(str(lab), add_special_tokens=False)) for lab in labels) + 2
        return fallback

    def constraint(self, tokenizer: Any) -> Any:
        """Label-constrained decoding for a generative classification version: only tokens that continue
        one of the labels (as the chat template writes it, up to its end token) are allowed, so the
        answer is always a label. None for other tasks, the base model and classifier-head versions
        (they answer a label by construction)."""
        labels = list(self.objective.labels or self.labels) if self.objective else []
        if self.task != "classification" or not labels or self.head == "classifier":
            return None
        from ..constrained import LabelTrie, label_token_ids

        stops = [int(tokenizer.eos_token_id)]
        trie = LabelTrie.build(labels, [label_token_ids(tokenizer, lab, stops) for lab in labels])
        return LabelConstraint(trie)


class LabelConstraint:
    """``Constraint`` over a label trie: the first call's sequence is the prompt; later calls add the
    generated tokens, which are walked down the trie (``Decoder`` passes prompt + generated ids)."""

    def __init__(self, trie: Any):
        self.trie = trie
        self.prompt_len: int | None = None

    def __call__(self, sequence: list[int]) -> list[int]:
        if self.prompt_len is None:
            self.prompt_len = len(sequence)
        node = 0
        for t in sequence[self.prompt_len:]:
            node = self.trie.children[node].get(t, -1)
            if node < 0:  # cannot happen while every step is masked; fall back to the root's choices
                return list(self.trie.children[0])
        return list(self.trie.children[node]) or list(self.trie.children[0])


@dataclass(frozen=True)
class Servable:
    """A resolved model: ``id`` is what responses name (``support-bot@3`` or the base alias)."""

    id: str
    kind: str  # "version" | "base"
    path: str
    recipe: Recipe
    created: int = 0


def _provenance(model_path: str) -> dict:
    from ..models.trained import read_provenance

    try:
        return read_provenance(model_path)
    except (OSError, ValueError):
        return {}


def _lists_labels(model_path: str) -> bool:
    """The version's stored prompt recipe: did its training prompts list the labels?"""
    return bool((_provenance(model_path).get("prompt_recipe") or {}).get("labels_in_prompt", True))


def _recipe(objective: ObjectiveSpec, labels: tuple[str, ...], model_path: str) -> Recipe:
    """The version's prompt recipe from its ``provenance.json`` (head, label list, input budget)."""
    prov = _provenance(model_path)
    stored = prov.get("prompt_recipe") or {}
    shots = int(stored.get("retrieved_examples") or 0)
    return Recipe(objective, labels, bool(stored.get("labels_in_prompt", True)), prov.get("head", "lm"),
                  int(stored.get("max_tokens") or 256), str(stored.get("cue") or ""), shots,
                  _examples(model_path) if shots else None, float(stored.get("copy_bias") or 0.0),
                  int(stored.get("repeat_limit") or 0))


@lru_cache(maxsize=16)
def _examples(model_path: str) -> Any:
    """A version's retrieved-examples index, built once per process (versions are immutable)."""
    from ..rag import ExampleIndex

    return ExampleIndex.load(model_path)


class Catalog:
    """Resolves ``model`` strings and keeps recently used weights loaded."""

    def __init__(self, spec: Any, ws: Any, max_loaded: int = 2, max_adapters: int = 8):
        from .adapters import AdapterPool

        self.spec, self.ws = spec, ws
        self.adapters = AdapterPool(spec.model.device, spec.model.dtype, max_adapters)
        self.base_alias = spec.model.base
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def listing(self) -> list[dict[str, Any]]:
        """``/v1/models`` entries: each live version (with base, version, aliases), then the base model."""
        out = []
        for v in reversed(list_versions(self.ws)):
            out.append({"id": v["ref"], "object": "model", "created": int(v["created_at"]), "owned_by": "tailorlm",
                        "parent": (v["lineage"].get("base_model") or {}).get("ref") or self.base_alias,
                        "version": v["version"], "aliases": [f"{v['name']}@{a}" for a in v["aliases"]]})
        out.append({"id": self.base_alias, "object": "model", "created": 0, "owned_by": "tailorlm", "parent": None,
                    "version": None, "aliases": []})
        return out

    def known(self) -> list[str]:
        ids = []
        for m in self.listing():
            ids += [m["id"], *m["aliases"]]
        return ids

    def resolve(self, model: str) -> Servable:
        """The servable ``model`` names. Raises :class:`ModelNotFound` listing what exists."""
        if model == self.base_alias:
            return Servable(id=model, kind="base", path=model, recipe=Recipe())
        try:
            mv = resolve(self.ws, model, default_name=self.spec.project)
        except RegistryError as exc:
            known = self.known()
            raise ModelNotFound(f"model {model!r} does not exist ({exc}). Models: {', '.join(known)}", known) from None
        lineage = mv.lineage or {}
        objective = ObjectiveSpec.model_validate((lineage.get("spec") or {}).get("objective") or {})
        labels = tuple((lineage.get("dataset") or {}).get("labels") or ())
        return Servable(id=mv.ref, kind="version", path=mv.path, recipe=_recipe(objective, labels, mv.path),
                        created=int(mv.created_at))

    def load(self, servable: Servable) -> Any:
        """The loaded weights (a ``LoadedModel``), loading them on first use (blocking: call in a thread)."""
        with self._lock:
            if servable.id in self._loaded:
                self._loaded.move_to_end(servable.id)
                return self._loaded[servable.id]
            m = self.spec.model
            if servable.kind == "base":
                from ..models import load_base

                loaded = load_base(m.base, m.device, m.dtype, m.revision)
            else:
                from ..models.trained import load_trained

                loaded = load_trained(servable.path, m.device, m.dtype)
            from ..models.precision import for_inference

            for_inference(loaded)
            loaded.model.eval()
            self._loaded[servable.id] = loaded
            while len(self._loaded) > self.max_loaded:
                self._loaded.popitem(last=False)
            return loaded

    def acquire(self, servable: Servable) -> tuple[Any, str | None, Any]:
        """For serving: (the LoadedModel, its LoRA adapter name or None, the lock for forward passes).

        A plain LoRA version shares its base with the other LoRA versions of that base
        (:class:`~tailorlm.serve.adapters.AdapterPool`; give the adapter back with :meth:`release`);
        anything else is :meth:`load`-ed whole (merged) and has no adapter.
        """
        from .adapters import is_poolable

        if servable.kind == "version" and is_poolable(servable.path):
            loaded, name = self.adapters.get(servable.id, servable.path)
            return loaded, name, self.adapters.lock
        return self.load(servable), None, None

    def release(self, adapter: str | None) -> None:
        if adapter is not None:
            self.adapters.release(adapter)
