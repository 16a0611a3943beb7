"""Building OpenAI response objects (chat and text completions, whole and as SSE chunks)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from .decode import Delta, TokenLogprob


@dataclass
class Choice:
    """One choice accumulated from its deltas."""

    index: int
    text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    completion_tokens: int = 0

    def add(self, d: Delta) -> None:
        self.text += d.text
        self.logprobs += d.logprobs
        self.completion_tokens = d.completion_tokens
        self.finish_reason = d.finish_reason or self.finish_reason


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chat_logprobs(lps: list[TokenLogprob]) -> dict[str, Any]:
    return {"content": [{"token": t.token, "logprob": t.logprob, "bytes": t.bytes,
                         "top_logprobs": [{"token": a, "logprob": lp, "bytes": b} for a, lp, b in t.top]}
                        for t in lps], "refusal": None}


def text_logprobs(lps: list[TokenLogprob], start: int = 0) -> dict[str, Any]:
    offsets, pos = [], start
    for t in lps:
        offsets.append(pos)
        pos += len(t.token)
    return {"tokens": [t.token for t in lps], "token_logprobs": [t.logprob for t in lps],
            "top_logprobs": [{a: lp for a, lp, _ in t.top} for t in lps], "text_offset": offsets}


def chat_completion(rid: str, model: str, choices: list[Choice], prompt_tokens: int, want_logprobs: bool) -> dict:
    return {
        "id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": c.index, "message": {"role": "assistant", "content": c.text, "refusal": None},
                     "logprobs": chat_logprobs(c.logprobs) if want_logprobs else None,
                     "finish_reason": c.finish_reason} for c in choices],
        "usage": usage(prompt_tokens, sum(c.completion_tokens for c in choices)),
    }


def text_completion(rid: str, model: str, choices: list[Choice], prompt_tokens: int, want_logprobs: bool) -> dict:
    return {
        "id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
        "choices": [{"index": c.index, "text": c.text, "finish_reason": c.finish_reason,
                     "logprobs": text_logprobs(c.logprobs) if want_logprobs else None} for c in choices],
        "usage": usage(prompt_tokens, sum(c.completion_tokens for c in choices)),
    }


def sse(obj: Any) -> str:
    """One server-sent event line (``data: {...}``)."""
    return "data: " + (obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)) + "\n\n"


def chat_chunk(rid: str, model: str, created: int, index: int, delta: dict, *, logprobs: Any = None,
               finish_reason: str | None = None, with_usage: bool = False) -> dict:
    out = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
           "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}]}
    if with_usage:
        out["usage"] = None
    return out


def text_chunk(rid: str, model: str, created: int, index: int, text: str, *, logprobs: Any = None,
               finish_reason: str | None = None, with_usage: bool = False) -> dict:
    out = {"id": rid, "object": "text_completion", "created": created, "model": model,
           "choices": [{"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish_reason}]}
    if with_usage:
        out["usage"] = None
    return out
