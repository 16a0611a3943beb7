"""The OpenAI wire format: request bodies as pydantic models (they also make ``/openapi.json``).

Documented OpenAI fields this server does not implement (``store``, ``metadata``, ``tools``,
``frequency_penalty``...) are accepted and ignored (``extra="allow"``); values of the fields it does
implement are validated, and a malformed one is a 400 in OpenAI's error envelope.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextPart(_Open):
    type: Literal["text"]
    text: str


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Optional[Union[str, list[TextPart]]] = None
    name: Optional[str] = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class StreamOptions(_Open):
    include_usage: bool = False


class JSONSchemaFormat(_Open):
    name: str = Field(default="response", max_length=64)
    schema_: Optional[dict[str, Any]] = Field(default=None, alias="schema")
    strict: Optional[bool] = None
    description: Optional[str] = None


class ResponseFormat(_Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: Optional[JSONSchemaFormat] = None


Stop = Optional[Union[str, list[str]]]


class _Sampling(_Open):
    model: str = Field(min_length=1)
    max_tokens: Optional[int] = Field(default=None, ge=1)
    temperature: Optional[float] = Field(default=None, ge=0, le=2)
    top_p: Optional[float] = Field(default=None, gt=0, le=1)
    n: Optional[int] = Field(default=None, ge=1, le=128)
    seed: Optional[int] = None
    stop: Stop = None
    stream: Optional[bool] = False
    stream_options: Optional[StreamOptions] = None
    user: Optional[str] = None

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return tuple(s for s in ([self.stop] if isinstance(self.stop, str) else self.stop) if s)


class ChatCompletionRequest(_Sampling):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1)
    logprobs: Optional[bool] = False
    top_logprobs: Optional[int] = Field(default=None, ge=0, le=20)
    response_format: Optional[ResponseFormat] = None


class CompletionRequest(_Sampling):
    """``POST /v1/completions``: raw text in, text out (no chat template, no system prompt)."""

    prompt: Union[str, list[str]]
    logprobs: Optional[int] = Field(default=None, ge=0, le=5)
