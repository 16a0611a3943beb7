"""The train stage: instruction tuning and continued pretraining with every PEFT method.

Entry points:

* :func:`run_training` (spec, workspace, dataset version) -> :class:`~tailorlm.results.TrainRun`;
* :func:`load_trained` (artifact folder) -> :class:`~tailorlm.models.loader.LoadedModel`;
* :func:`tailorlm.train.export.merge_and_save` (artifact folder, output folder) -> merged weights;
* :func:`tailorlm.train.tokenize.encode_sft` (one example) -> ids and label mask.

See docs/training.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy imports (torch, transformers) stay lazy for the CLI's fast paths
    from .load import load_trained
    from .run import run_training

__all__ = ["load_trained", "run_training"]


def __getattr__(name: str):
    if name == "run_training":
        from .run import run_training

        return run_training
    if name == "load_trained":
        from .load import load_trained

        return load_trained
    raise AttributeError(name)
