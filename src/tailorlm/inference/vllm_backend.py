"""``tailorlm serve --engine vllm``: vLLM's engine behind the same :class:`~tailorlm.inference.engine.Engine`
interface, for CUDA machines (vLLM has no CPU wheel on PyPI: ``pip install vllm`` on a GPU host).

The project's base model is loaded once into vLLM's ``AsyncLLMEngine`` with LoRA enabled
(``max_loras`` = ``--max-adapters``, ``max_num_seqs`` = ``--max-batch``); a LoRA version is served
as a ``LoRARequest`` on it (vLLM mixes adapters in a batch and evicts them itself). Prompts arrive as
token ids built by the same prompt recipe as evaluation, so the model sees the same tokens.

Not covered by this backend (a job that needs them gets a clear error, answered 400): label- and
JSON-constrained decoding, per-token logprobs, and versions that are not LoRA adapters of the
base (merged or full fine-tunes: serve their merged folder as the base with
``tailorlm models export --merge``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
from typing import Any, AsyncIterator

from ..errors import UserError
from .decode import Delta
from .engine import EngineBusy, Job


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


class VLLMEngine:
    """vLLM's async engine on the project's base model, LoRA versions as requests."""

    def __init__(self, spec: Any, max_queue: int = 16, max_batch: int = 8, max_adapters: int = 8):
        if not vllm_available():
            raise UserError("--engine vllm needs vLLM, which is not installed here. On a CUDA machine: "
                            "pip install vllm (it has no CPU wheel); on this machine use --engine local.")
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        args = AsyncEngineArgs(model=spec.model.base, enable_lora=True, max_loras=max(1, max_adapters),
                               max_num_seqs=max(1, max_batch), dtype=spec.model.dtype if spec.model.dtype != "auto"
                               else "auto")
        self.llm = AsyncLLMEngine.from_engine_args(args)
        self.max_queue = max_queue
        self._waiting = 0
        self._running = 0
        self._ids = itertools.count(1)
        self._lora_ids: dict[str, int] = {}

    @property
    def queue_depth(self) -> int:
        return self._waiting

    @property
    def running(self) -> int:
        return self._running

    def _lora(self, job: Job) -> Any:
        if job.adapter is None or not job.adapter_path:
            return None
        from vllm.lora.request import LoRARequest

        lid = self._lora_ids.setdefault(job.version, len(self._lora_ids) + 1)
        return LoRARequest(job.version, lid, job.adapter_path)

    def _params(self, job: Job) -> Any:
        from vllm import SamplingParams as VParams

        p = job.params
        if job.constraint is not None or p.logprobs:
            raise UserError("--engine vllm does not do constrained decoding or logprobs yet; use --engine local "
                            "for classification versions, response_format and logprobs")
        return VParams(n=p.n, temperature=p.temperature, top_p=p.top_p, seed=p.seed, max_tokens=p.max_tokens,
                       stop=list(p.stop) or None)

    def submit(self, job: Job) -> AsyncIterator[list[Delta]]:
        if self._waiting >= self.max_queue:  # not yet scheduled by vLLM
            raise EngineBusy(f"{self.max_queue} requests are already waiting")
        params = self._params(job)
        self._waiting += 1
        return self._stream(job, params)

    async def _stream(self, job: Job, params: Any) -> AsyncIterator[list[Delta]]:
        rid = f"tailorlm-{next(self._ids)}"
        shown: dict[int, int] = {}
        started = False
        try:
            async for out in self.llm.generate({"prompt_token_ids": job.prompt}, params, rid,
                                               lora_request=self._lora(job)):
                if not started:
                    self._waiting, self._running, started = self._waiting - 1, self._running + 1, True
                deltas = []
                for c in out.outputs:
                    start = shown.get(c.index, 0)
                    deltas.append(Delta(index=c.index, text=c.text[start:], finish_reason=c.finish_reason,
                                        completion_tokens=len(c.token_ids)))
                    shown[c.index] = len(c.text)
                job.steps += 1
                yield deltas
                if job.cancelled:
                    await self.llm.abort(rid)
                    return
        finally:
            if started:
                self._running -= 1
            else:
                self._waiting -= 1

    def close(self, drain: bool = True) -> None:
        shutdown = getattr(self.llm, "shutdown", None)
        if callable(shutdown):
            result = shutdown()
            if asyncio.iscoroutine(result):
                result.close()
