"""``response_format`` enforcement with lm-format-enforcer (JSON Schema -> allowed tokens per step).

lm-format-enforcer's own transformers adapter does not import on transformers 5, so the tokenizer
table is built here through the library's public extension point (``TokenEnforcerTokenizerData``,
"the main entry point for extending lm-format-enforcer to new inference libraries"), the same way
its adapter builds it. The table is built once per tokenizer (about 1 s for a 49k vocabulary).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

_TABLES: dict[int, Any] = {}
_LOCK = threading.Lock()
# Whitespace the model may put between JSON tokens; a model that likes newlines could otherwise
# spend its whole budget on them.
MAX_WHITESPACE = 2


def tokenizer_data(tokenizer: Any) -> Any:
    """lm-format-enforcer's per-tokenizer table (cached for the process)."""
    from lmformatenforcer import TokenEnforcerTokenizerData

    with _LOCK:
        if id(tokenizer) in _TABLES:
            return _TABLES[id(tokenizer)]
        special = set(tokenizer.all_special_ids)
        zero = tokenizer.encode("0", add_special_tokens=False)[-1]
        regular = []
        for i in range(len(tokenizer)):
            if i in special:
                continue
            # Decoding after a "0" shows whether the token starts a word (a leading space).
            after_zero = tokenizer.decode([zero, i])[1:]
            regular.append((i, after_zero, len(after_zero) > len(tokenizer.decode([i]))))

        def decode(ids: list[int]) -> str:
            return tokenizer.decode(ids).rstrip("\ufffd")

        data = TokenEnforcerTokenizerData(regular, decode, tokenizer.eos_token_id, False, len(tokenizer))
        _TABLES[id(tokenizer)] = data
        return data


def json_constraint(tokenizer: Any, schema: dict | None) -> Callable[[list[int]], list[int]]:
    """A function from the token sequence so far (prompt + generated) to the tokens allowed next.

    Args:
        schema: a JSON Schema (``response_format.json_schema.schema``); None allows any JSON object
            (``response_format: {"type": "json_object"}``).
    """
    from lmformatenforcer import JsonSchemaParser, TokenEnforcer

    parser = JsonSchemaParser(schema if schema is not None else {"type": "object"})
    enforcer = TokenEnforcer(tokenizer_data(tokenizer), parser)
    parser.config.max_consecutive_whitespaces = MAX_WHITESPACE  # TokenEnforcer sets a fresh config

    def allowed(sequence: list[int]) -> list[int]:
        return list(enforcer.get_allowed_tokens(sequence).allowed_tokens)

    return allowed


def check_schema(schema: Any) -> str | None:
    """Why ``schema`` cannot be enforced (a message for a 400), or None when it can."""
    from lmformatenforcer import JsonSchemaParser

    if not isinstance(schema, dict):
        return "response_format.json_schema.schema must be a JSON object (a JSON Schema)"
    try:
        JsonSchemaParser(schema)
    except Exception as exc:  # the library raises many types for schemas it cannot handle
        return f"response_format.json_schema.schema cannot be enforced: {exc}"
    return None
