"""The FastAPI application: OpenAI routes, keys and roles, limits, the request log, start/stop audit.

``build_app(spec, ws, ...)`` returns the app; ``tailorlm serve`` runs it under uvicorn. Routes:

| route | who |
| --- | --- |
| ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models[/{id}]`` | any valid key |
| ``GET /v1/admin/keys``, ``GET /v1/admin/requests`` | admin keys |
| ``GET /health``, ``GET /metrics`` (Prometheus), ``GET /openapi.json``, ``GET /docs`` | anyone |
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import __version__
from ..registry import audit
from . import errors, routes, tables
from .catalog import Catalog
from .engine import Engine
from .errors import APIError
from .keys import Identity, KeyVerifier
from .limits import RateLimiter
from .metrics import Metrics
from .protocol import ChatCompletionRequest, CompletionRequest
from .requestlog import RequestLog

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="an API key from 'tailorlm keys create'")


@dataclass
class ServerOptions:
    """How the server runs (the ``tailorlm serve`` flags)."""

    host: str = "127.0.0.1"
    port: int = 8000
    open_local: bool = False
    max_queue: int = 16
    max_batch: int = 8  # rows decoded together by the continuous-batching engine
    max_adapters: int = 8  # LoRA adapters kept loaded on shared bases (least recently used evicted)
    engine: str = "local"  # "local" (tailorlm.inference.engine) or "vllm" (tailorlm.inference.vllm_backend)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    spec: Any
    ws: Any
    options: ServerOptions
    catalog: Catalog
    engine: Engine
    verifier: KeyVerifier
    limiter: RateLimiter
    request_log: RequestLog
    metrics: Metrics | None = None

    @property
    def serve_spec(self) -> Any:
        return self.spec.serve


def _pii_spec(spec: Any) -> Any:
    from ..spec.data import PIISpec

    return spec.data.pii if spec.data.pii.enabled else PIISpec()


def _state(app_or_request: Any) -> State:
    return app_or_request.app.state.tailorlm


async def caller(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Identity:
    """The calling key's identity (401 without a valid, unrevoked key), counted against its rpm."""
    st = _state(request)
    if st.options.open_local:
        who = Identity(name="local", role="user")
    else:
        if creds is None or not creds.credentials:
            raise APIError(401, "no API key: send 'Authorization: Bearer <key>' (create one with 'tailorlm keys "
                           "create --name NAME')", code="invalid_api_key")
        found = await run_in_threadpool(st.verifier.verify, creds.credentials)
        if found is None:
            raise APIError(401, "the API key is not valid or was revoked; see 'tailorlm keys list'",
                           code="invalid_api_key")
        who = found
    request.state.identity = who
    st.limiter.request(who)
    return who


async def admin(who: Identity = Depends(caller)) -> Identity:
    if who.role != "admin":
        raise APIError(403, f"key {who.name!r} has role {who.role!r}; this route needs an admin key",
                       code="insufficient_role")
    return who


def _log_error(request: Request, exc: APIError) -> None:
    """Requests refused before generation (400/401/403/404/429) get a request-log row too."""
    st = getattr(request.app.state, "tailorlm", None)
    if st is None or not request.url.path.startswith("/v1/") or getattr(exc, "logged", False):
        return
    who = getattr(request.state, "identity", None)
    st.request_log.add({"id": f"err-{uuid.uuid4().hex}",
                        "key_name": who.name if who else None, "endpoint": request.url.path, "status": exc.status,
                        "error": exc.message, "request": None, "response": None})


def _lifespan(st: State):
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        o = st.options
        await run_in_threadpool(st.request_log.purge)
        details = {"host": o.host, "port": o.port, "open_local": o.open_local, "max_queue": o.max_queue,
                   "request_log_raw": st.request_log.raw, "retention_days": st.request_log.retention_days}
        await run_in_threadpool(audit.record, st.ws, "serve.start", st.spec.project, details)
        if st.request_log.raw:
            await run_in_threadpool(audit.record, st.ws, "serve.request_log.raw", st.spec.project,
                                    {"why": "serve.request_log.raw is true: prompts and answers are stored unredacted"})
        try:
            yield
        finally:  # uvicorn finished the in-flight requests first (graceful shutdown on SIGTERM)
            await run_in_threadpool(st.engine.close, True)
            await run_in_threadpool(st.request_log.close)
            await run_in_threadpool(audit.record, st.ws, "serve.stop", st.spec.project, {"host": o.host, "port": o.port})

    return lifespan


def make_engine(spec: Any, options: ServerOptions, metrics: Metrics) -> Engine:
    """The engine ``--engine`` names: ``local`` (continuous batching here) or ``vllm``."""
    if options.engine == "vllm":
        from ..inference.vllm_backend import VLLMEngine

        return VLLMEngine(spec, options.max_queue, options.max_batch, options.max_adapters)
    from ..inference.engine import BatchEngine

    return BatchEngine(options.max_queue, options.max_batch, observer=metrics.observe_step)


def build_app(spec: Any, ws: Any, options: ServerOptions | None = None, engine: Engine | None = None) -> FastAPI:
    """The API for the project ``spec`` (its registry in ``ws``)."""
    options = options or ServerOptions()
    sv = spec.serve
    metrics = Metrics()
    engine = engine or make_engine(spec, options, metrics)
    metrics.bind(engine)
    st = State(spec=spec, ws=ws, options=options,
               catalog=Catalog(spec, ws, sv.max_loaded_models, options.max_adapters),
               engine=engine, verifier=KeyVerifier(ws), limiter=RateLimiter(),
               request_log=RequestLog(ws, _pii_spec(spec), sv.request_log.retention_days, sv.request_log.raw),
               metrics=metrics)
    app = FastAPI(title="tailorlm", version=__version__, lifespan=_lifespan(st),
                  description="OpenAI-compatible API for the project's registered model versions.")
    app.state.tailorlm = st
    errors.install(app, _log_error)
    _routes(app, st)
    return app


def _routes(app: FastAPI, st: State) -> None:
    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "project": st.spec.project, "version": __version__}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(st.metrics.render(), media_type=st.metrics.content_type)

    @app.get("/v1/models")
    async def models(who: Identity = Depends(caller)) -> dict:
        return {"object": "list", "data": await run_in_threadpool(st.catalog.listing)}

    @app.get("/v1/models/{model_id}")
    async def model(model_id: str, who: Identity = Depends(caller)) -> dict:
        for m in await run_in_threadpool(st.catalog.listing):
            if model_id == m["id"] or model_id in m["aliases"]:
                return m
        known = await run_in_threadpool(st.catalog.known)
        raise APIError(404, f"model {model_id!r} does not exist. Models: {', '.join(known)}", param="model",
                       code="model_not_found")

    async def _answer(body, request: Request, who: Identity, prep, chat: bool):
        """Charge the key's token budget, then stream or answer whole (chat or text completion)."""
        try:
            st.limiter.tokens(who, sum(len(p) for p in prep.prompts) + prep.params.max_tokens * prep.params.n)
        except APIError:
            st.catalog.release(prep.adapter)
            raise
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            return routes.stream_answer(st, prep, who, chat=chat, include_usage=usage)
        shape = routes.R.chat_completion if chat else routes.R.text_completion
        return await routes.answer_whole(st, request, prep, who, shape)

    def _full() -> None:
        """A full queue is answered before any work (resolving, loading, tokenizing): 429 at once."""
        if getattr(st.engine, "queue_depth", 0) >= st.options.max_queue:
            routes.refuse_busy(st, f"{st.options.max_queue} requests are already waiting")

    @app.post("/v1/chat/completions")
    async def chat(body: ChatCompletionRequest, request: Request, who: Identity = Depends(caller)):
        _full()
        return await _answer(body, request, who, await routes.prepare_chat(st, body), chat=True)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request, who: Identity = Depends(caller)):
        _full()
        return await _answer(body, request, who, await routes.prepare_completion(st, body), chat=False)

    @app.get("/v1/admin/keys")
    async def admin_keys(who: Identity = Depends(admin)) -> dict:
        rows = await run_in_threadpool(tables.list_keys, st.ws)
        return {"object": "list", "data": [r.public() for r in rows]}

    @app.get("/v1/admin/requests")
    async def admin_requests(who: Identity = Depends(admin), limit: int = Query(50, ge=1, le=1000)) -> dict:
        await run_in_threadpool(st.request_log.flush)
        return {"object": "list", "data": await run_in_threadpool(tables.read_requests, st.ws, limit=limit)}
