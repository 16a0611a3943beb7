"""Offline by default: the hub libraries may not reach the network unless the spec allows one download.

Every model load goes through :func:`tailorlm.models.loader.resolve_base`, which calls
:func:`enforce` first, so library users (not only the CLI) get the same guarantee. With
``model.download: true`` in the spec, :func:`online_for` lifts offline mode only around fetching
the named base model's snapshot; everything before and after stays offline.

Setting the environment variables is not enough on its own: ``huggingface_hub`` and ``datasets``
read them once at import, so the already-imported modules' flags are set too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

FLAGS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def _set_imported(offline: bool) -> None:
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        hub.HF_HUB_OFFLINE = offline
    ds = sys.modules.get("datasets.config")
    if ds is not None:
        ds.HF_HUB_OFFLINE = offline
        ds.HF_DATASETS_OFFLINE = offline


def enforce() -> None:
    """Put huggingface_hub, transformers and datasets in offline mode (environment and imported modules)."""
    for name in FLAGS:
        os.environ[name] = "1"
    _set_imported(True)


def is_offline() -> bool:
    """Whether huggingface_hub (as imported in this process) refuses network calls."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


@contextlib.contextmanager
def online_for(ref: str) -> Iterator[None]:
    """Allow the hub for the body only (fetching model ``ref``, as ``model.download: true`` asks); offline after."""
    for name in FLAGS:
        os.environ.pop(name, None)
    _set_imported(False)
    try:
        yield
    finally:
        enforce()
