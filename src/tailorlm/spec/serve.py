"""The ``serve:`` section: limits of the OpenAI-compatible server and its request log."""

from __future__ import annotations

from pydantic import Field

from .common import Strict


class RequestLogSpec(Strict):
    """Every request and answer the server handled, kept for monitoring, A/B tests and feedback.

    Attributes:
        retention_days: rows older than this many days are deleted (at server start and hourly).
        raw: store prompts and answers as sent, without PII redaction. Off by default; turning it on
            is written to the audit log each time the server starts.
    """

    retention_days: int = Field(default=30, ge=1, description="delete request-log rows older than this")
    raw: bool = Field(default=False, description="store prompts/answers unredacted (audited)")


class ServeSpec(Strict):
    """The serving API (``tailorlm serve``).

    Attributes:
        max_tokens: the most tokens one completion may ask for (``max_tokens`` above it is a 400).
        default_max_tokens: the budget when a request names none (classification versions default
            to their longest label + 2 tokens, as in evaluation).
        max_n: the most choices one request may ask for (``n``).
        max_loaded_models: model versions kept in memory at once (least recently used is unloaded).
        request_log: what the request log keeps and for how long.
    """

    max_tokens: int = Field(default=1024, ge=1)
    default_max_tokens: int = Field(default=256, ge=1)
    max_n: int = Field(default=8, ge=1)
    max_loaded_models: int = Field(default=2, ge=1)
    request_log: RequestLogSpec = RequestLogSpec()
