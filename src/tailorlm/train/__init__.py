"""The train stage: instruction tuning and continued pretraining with every PEFT method.

Entry points:

* :func:`run_training` (spec, workspace, dataset version) -> :class:`~tailorlm.results.TrainRun`;
* :func:`tailorlm.train.export.save_artifact` writes the artifact; loading it back (``load_trained``,
  ``merge_and_save``, ``read_provenance``) lives in :mod:`tailorlm.models.trained`, so evaluation, the
  registry and the server never import this package (``load_trained`` is re-exported here);
* :func:`tailorlm.train.tokenize.encode_sft` (one example) -> ids and label mask.

See docs/training.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy imports (torch, transformers) stay lazy for the CLI's fast paths
    from ..models.trained import load_trained
    from .run import run_training

__all__ = ["load_trained", "run_training"]


def __getattr__(name: str):
    if name == "run_training":
        from .run import run_training

        return run_training
    if name == "load_trained":
        from ..models.trained import load_trained

        return load_trained
    raise AttributeError(name)
