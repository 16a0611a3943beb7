"""``/v1/chat/completions`` and ``/v1/completions``: validate, build the prompt, generate, answer.

Each request: resolve the model (404 listing what exists), build the prompt (the version's training
recipe for chat), check the limits (400 naming the limit), charge the key's token budget (429),
queue the job (429 when the queue is full), then answer whole or as server-sent events. A client
that disconnects cancels its job; every request ends as one row of the request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from . import responses as R
from .catalog import ModelNotFound, Servable
from .decode import SamplingParams
from .engine import EngineBusy, Job
from ..errors import UserError
from .errors import APIError
from .keys import Identity
from .protocol import ChatCompletionRequest, CompletionRequest


@dataclass
class Prepared:
    """A validated request, ready to queue."""

    rid: str
    endpoint: str
    servable: Servable
    loaded: Any
    prompts: list[list[int]]  # one per prompt (chat: exactly one)
    params: SamplingParams
    constraint: Any
    log_request: dict[str, Any]
    requested: str = ""  # the model string the caller sent (an alias, a name, a version)
    adapter: str | None = None  # the LoRA adapter on a shared base (tailorlm.serve.adapters)
    lock: Any = None


async def _servable(state: Any, model: str) -> tuple[Servable, Any, str | None, Any]:
    try:
        servable = await run_in_threadpool(state.catalog.resolve, model)
    except ModelNotFound as exc:
        raise APIError(404, str(exc), param="model", code="model_not_found") from None
    loaded, adapter, lock = await run_in_threadpool(state.catalog.acquire, servable)
    return servable, loaded, adapter, lock


def _release_on_error(state: Any, adapter: str | None):
    """A request refused after its adapter was acquired gives it back."""
    @contextlib.contextmanager
    def guard():
        try:
            yield
        except BaseException:
            state.catalog.release(adapter)
            raise
    return guard()


def _params(state: Any, body: Any, servable: Servable, loaded: Any, prompt_len: int, *, logprobs: bool,
            top: int, copy_bias: float = 0.0, no_repeat: int = 0) -> SamplingParams:
    """``copy_bias`` and ``no_repeat``: the version's recipe's (``repeat_limit``), for chat prompts the
    recipe built; raw completion prompts are the caller's own, so they decode plainly."""
    limits = state.serve_spec
    ctx = getattr(loaded.model.config, "max_position_embeddings", None) or 10**9
    if prompt_len >= ctx:
        raise APIError(400, f"the prompt is {prompt_len} tokens; this model's context is {ctx} tokens. Shorten the "
                       "messages.", param="messages", code="context_length_exceeded")
    asked = getattr(body, "max_completion_tokens", None) or body.max_tokens
    param = "max_completion_tokens" if getattr(body, "max_completion_tokens", None) else "max_tokens"
    if asked is not None and asked > limits.max_tokens:
        raise APIError(400, f"{param} is {asked}; this server allows at most {limits.max_tokens} "
                       "(serve.max_tokens in tailor.yaml)", param=param, code="invalid_value")
    if asked is not None and prompt_len + asked > ctx:
        raise APIError(400, f"this model's context is {ctx} tokens, but {prompt_len + asked} were requested "
                       f"({prompt_len} in the prompt, {asked} for the completion). Lower {param}.",
                       param=param, code="context_length_exceeded")
    n = body.n or 1
    if n > limits.max_n:
        raise APIError(400, f"n is {n}; this server allows at most {limits.max_n} (serve.max_n)", param="n",
                       code="invalid_value")
    budget = asked or min(servable.recipe.default_max_tokens(loaded.tokenizer, limits.default_max_tokens),
                          ctx - prompt_len)
    temperature = 1.0 if body.temperature is None else body.temperature
    return SamplingParams(max_tokens=budget, temperature=temperature, top_p=body.top_p or 1.0, seed=body.seed,
                          stop=body.stops(), n=n, logprobs=logprobs, top_logprobs=top,
                          copy_bias=copy_bias, no_repeat=no_repeat)


def _constraint(body: ChatCompletionRequest, servable: Servable, tokenizer: Any) -> Any:
    from .structured import check_schema, json_constraint

    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return servable.recipe.constraint(tokenizer)
    if fmt.type == "json_object":
        return json_constraint(tokenizer, None)
    schema = fmt.json_schema.schema_ if fmt.json_schema else None
    problem = check_schema(schema)
    if problem:
        raise APIError(400, problem, param="response_format", code="invalid_value")
    return json_constraint(tokenizer, schema)


async def prepare_chat(state: Any, body: ChatCompletionRequest) -> Prepared:
    if body.top_logprobs and not body.logprobs:
        raise APIError(400, "top_logprobs needs logprobs: true", param="top_logprobs", code="invalid_value")
    servable, loaded, adapter, lock = await _servable(state, body.model)
    with _release_on_error(state, adapter):
        chat = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
        prompt = servable.recipe.prompt_ids(loaded.tokenizer, chat)
        params = _params(state, body, servable, loaded, len(prompt), logprobs=bool(body.logprobs),
                         top=body.top_logprobs or 0, copy_bias=servable.recipe.copy_bias,
                         no_repeat=servable.recipe.repeat_limit)
        constraint = await run_in_threadpool(_constraint, body, servable, loaded.tokenizer)
    return Prepared(f"chatcmpl-{uuid.uuid4().hex}", "/v1/chat/completions", servable, loaded, [prompt], params,
                    constraint, {"messages": chat}, body.model, adapter, lock)


async def prepare_completion(state: Any, body: CompletionRequest) -> Prepared:
    servable, loaded, adapter, lock = await _servable(state, body.model)
    with _release_on_error(state, adapter):
        texts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
        if not texts:
            raise APIError(400, "prompt is an empty list", param="prompt", code="invalid_value")
        tok = loaded.tokenizer
        prompts = [list(tok(t, add_special_tokens=False)["input_ids"]) or [tok.bos_token_id or tok.eos_token_id]
                   for t in texts]
        params = _params(state, body, servable, loaded, max(len(p) for p in prompts),
                         logprobs=body.logprobs is not None, top=body.logprobs or 0)
    return Prepared(f"cmpl-{uuid.uuid4().hex}", "/v1/completions", servable, loaded, prompts, params, None,
                    {"prompt": texts}, body.model, adapter, lock)


async def _watch(request: Request, job: Job) -> None:
    """Cancel ``job`` when the client disconnects (non-streaming answers)."""
    while not job.cancelled:
        if await request.is_disconnected():
            job.cancel()
            return
        await asyncio.sleep(0.1)


def refuse_busy(state: Any, why: str) -> None:
    """Raise the queue-full 429 (with ``Retry-After``), counted in ``tailorlm_rejected_total``."""
    metrics = getattr(state, "metrics", None)
    if metrics is not None:
        metrics.rejected.inc()
    raise APIError(429, f"the server is busy ({why}); retry shortly", code="queue_full", headers={"Retry-After": "1"})


def _submit(state: Any, job: Job) -> AsyncIterator:
    try:
        return state.engine.submit(job)
    except EngineBusy as exc:
        refuse_busy(state, str(exc))
    except UserError as exc:  # the engine cannot do what the request asks (e.g. vLLM and a constraint)
        raise APIError(400, str(exc), code="unsupported") from None


class Run:
    """The jobs of one request (one per prompt) and their accumulated choices."""

    def __init__(self, state: Any, prep: Prepared, who: Identity):
        self.state, self.prep, self.who = state, prep, who
        self.t0 = time.perf_counter()
        n = prep.params.n
        self.choices = [R.Choice(index=i) for i in range(n * len(prep.prompts))]
        self.jobs: list[Job] = []
        self.status, self.error = 200, None
        self.ttft: float | None = None

    def add(self, index: int, d: Any) -> None:
        """Add a delta to choice ``index`` (the first one sets the time to first token)."""
        if self.ttft is None:
            self.ttft = time.perf_counter() - self.t0
        self.choices[index].add(d)

    def debug_headers(self) -> dict[str, str]:
        """The batch this request decoded in: versions that shared a step with it, the most rows."""
        versions = sorted(set().union(*(j.batch_versions for j in self.jobs)) or {self.prep.servable.id})
        return {"X-Tailorlm-Batch-Versions": ",".join(versions),
                "X-Tailorlm-Batch-Rows": str(max([j.batch_rows for j in self.jobs] + [1]))}

    def job(self, i: int) -> Job:
        j = Job(self.prep.loaded, self.prep.prompts[i], self.prep.params, self.prep.constraint,
                autocast=self.state.spec.eval.bf16_autocast, version=self.prep.servable.id,
                adapter=self.prep.adapter, lock=self.prep.lock,
                adapter_path=self.prep.servable.path if self.prep.adapter else None)
        self.jobs.append(j)
        return j

    @property
    def prompt_tokens(self) -> int:
        return sum(len(p) for p in self.prep.prompts)

    def log(self) -> None:
        self.state.catalog.release(self.prep.adapter)
        metrics = getattr(self.state, "metrics", None)
        if metrics is not None and self.status == 200:
            version = self.prep.servable.id
            if self.ttft is not None:
                metrics.ttft.labels(version).observe(self.ttft)
            metrics.request_done(version, time.perf_counter() - self.t0, self.prompt_tokens,
                                 sum(c.completion_tokens for c in self.choices))
        cancelled = self.status == 200 and any(c.finish_reason is None for c in self.choices)
        self.state.request_log.add({
            "id": self.prep.rid, "key_name": self.who.name, "endpoint": self.prep.endpoint,
            "model": self.prep.requested, "version": self.prep.servable.id, "status": self.status,
            "latency_ms": round((time.perf_counter() - self.t0) * 1000.0, 2), "prompt_tokens": self.prompt_tokens,
            "completion_tokens": sum(c.completion_tokens for c in self.choices),
            "finish_reason": "cancelled" if cancelled else ",".join(sorted({c.finish_reason or "" for c in self.choices})),
            "request": self.prep.log_request, "response": [c.text for c in self.choices], "error": self.error})


async def answer_whole(state: Any, request: Request, prep: Prepared, who: Identity, build) -> JSONResponse:
    run = Run(state, prep, who)
    try:
        for i in range(len(prep.prompts)):
            job = run.job(i)
            watcher = asyncio.create_task(_watch(request, job))
            try:
                async with contextlib.aclosing(_submit(state, job)) as stream:
                    async for deltas in stream:
                        for d in deltas:
                            run.add(i * prep.params.n + d.index, d)
            finally:
                watcher.cancel()
    except APIError as exc:
        run.status, run.error = exc.status, exc.message
        exc.logged = True  # this row says it; the error handler need not add another
        raise
    finally:
        run.log()
    return JSONResponse(build(prep.rid, prep.servable.id, run.choices, run.prompt_tokens, prep.params.logprobs),
                        headers=run.debug_headers())


def stream_answer(state: Any, prep: Prepared, who: Identity, chat: bool, include_usage: bool) -> StreamingResponse:
    """Server-sent events: one chunk per step and choice, usage last (if asked), then ``data: [DONE]``."""
    run = Run(state, prep, who)
    created, n = int(time.time()), prep.params.n
    try:
        first = _submit(state, run.job(0))  # a full queue answers 429 before the stream starts
    except APIError:
        state.catalog.release(prep.adapter)
        raise

    def chunk(index: int, d: Any) -> dict:
        if chat:
            delta = {"content": d.text} if d.text else {}
            lp = R.chat_logprobs(d.logprobs) if prep.params.logprobs and d.logprobs else None
            return R.chat_chunk(prep.rid, prep.servable.id, created, index, delta, logprobs=lp,
                                finish_reason=d.finish_reason, with_usage=include_usage)
        lp = R.text_logprobs(d.logprobs) if prep.params.logprobs and d.logprobs else None
        return R.text_chunk(prep.rid, prep.servable.id, created, index, d.text, logprobs=lp,
                            finish_reason=d.finish_reason, with_usage=include_usage)

    async def events() -> AsyncIterator[str]:
        try:
            for i in range(len(prep.prompts)):
                stream = first if i == 0 else _submit(state, run.job(i))
                if chat:
                    for k in range(n):
                        yield R.sse(R.chat_chunk(prep.rid, prep.servable.id, created, k,
                                                 {"role": "assistant", "content": ""}, with_usage=include_usage))
                async with contextlib.aclosing(stream) as s:
                    async for deltas in s:
                        for d in deltas:
                            run.add(i * n + d.index, d)
                            if d.text or d.finish_reason or d.logprobs:
                                yield R.sse(chunk(i * n + d.index, d))
            if include_usage:
                yield R.sse({"id": prep.rid, "object": "chat.completion.chunk" if chat else "text_completion",
                             "created": created, "model": prep.servable.id, "choices": [],
                             "usage": R.usage(run.prompt_tokens, sum(c.completion_tokens for c in run.choices))})
            yield R.sse("[DONE]")
        except APIError as exc:
            run.status, run.error = exc.status, exc.message
            yield R.sse(exc.body())
        finally:
            for j in run.jobs:
                j.cancel()
            run.log()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
