"""OpenAI's error envelope for every failure: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "invalid_request_error", 405: "invalid_request_error", 429: "rate_limit_error",
          500: "server_error", 503: "server_error"}


class APIError(Exception):
    """An answer other than 200: the HTTP status, a message the caller can act on, the field at fault."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": _TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def _loc(err: dict) -> str:
    parts = [str(p) for p in err.get("loc", ()) if p != "body"]
    return ".".join(parts) or "body"


def install(app: FastAPI, on_error: Any = None) -> None:
    """Register the handlers; ``on_error(request, APIError)`` is called for each (the request log)."""

    async def _emit(request: Request, exc: APIError) -> JSONResponse:
        if on_error is not None:
            on_error(request, exc)
        return exc.response()

    @app.exception_handler(APIError)
    async def _api(request: Request, exc: APIError):
        return await _emit(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {}
        msg = "; ".join(f"{_loc(e)}: {e.get('msg')}" for e in errs[:5]) or "invalid request body"
        if first.get("type") == "json_invalid":
            msg = "the request body is not valid JSON"
        return await _emit(request, APIError(400, msg, param=_loc(first) if first else None, code="invalid_value"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return await _emit(request, APIError(exc.status_code, str(exc.detail), code=None,
                                             headers=dict(exc.headers or {})))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return await _emit(request, APIError(500, f"internal error ({type(exc).__name__}); see the server log",
                                             code="internal_error"))
