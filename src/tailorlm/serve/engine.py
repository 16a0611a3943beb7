"""The generation engine behind the API: :mod:`tailorlm.inference.engine` (kept as an import path).

``LocalEngine`` is the continuous-batching :class:`~tailorlm.inference.engine.BatchEngine`;
``--engine vllm`` selects :class:`tailorlm.inference.vllm_backend.VLLMEngine` instead.
"""

from ..inference.engine import BatchEngine, Engine, EngineBusy, Job  # noqa: F401

LocalEngine = BatchEngine
