"""The registry: model versions with lineage, model cards, aliases, gated promotion, audit log.

Entry points used by the pipeline and the CLI:

* :func:`register_model` (spec, ws, dataset, run, evaluation) -> :class:`~tailorlm.results.ModelVersion`
* :func:`resolve` (ws, ``name@3`` | ``name@production`` | ``name`` | ``3``)
* :func:`promote` (ws, ref, to_alias, force=False, reason=None, actor=None)
* :mod:`tailorlm.registry.audit` ``record(ws, action, subject, details=None, actor=None)``
"""

from __future__ import annotations

from . import audit
from .aliases import GATED_ALIASES, gate_results, promote, set_alias
from .errors import PromotionRefused, RegistryError
from .lineage import find as find_lineage
from .versions import delete_version, list_versions, model_names, register_model, resolve

__all__ = [
    "GATED_ALIASES",
    "PromotionRefused",
    "RegistryError",
    "audit",
    "delete_version",
    "find_lineage",
    "gate_results",
    "list_versions",
    "model_names",
    "promote",
    "register_model",
    "resolve",
    "set_alias",
]
