"""Input keys: what a stage's result depends on, as one hash.

The pipeline's stage cache (``stage_cache``) and the train stage's ``--resume`` look-up key their
results with the same parts, built here, so "the same inputs" means one thing everywhere.
"""

from __future__ import annotations

from typing import Any, Sequence

from .artifacts import sha256_json

TRAIN_READS = ("train", "model", "objective")  # the spec sections a training run depends on


def section_parts(spec: Any, sections: Sequence[str]) -> dict[str, Any]:
    """``{section: its JSON-able dict}`` for the named sections of a ``TailorSpec``."""
    return {name: spec.section_dict(name) for name in sections}


def train_inputs(spec: Any, dataset_version: str) -> dict[str, Any]:
    """What a training run's result depends on: its spec sections and the dataset version."""
    return {**section_parts(spec, TRAIN_READS), "dataset": dataset_version}


def input_key(parts: dict[str, Any]) -> str:
    """The sha256 of ``parts`` in canonical JSON (sorted keys)."""
    return sha256_json(parts)
