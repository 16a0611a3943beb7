"""Record formats: turn one raw record (a dict) into one normalized example.

A normalized example has the dataset-version columns (see docs/architecture.md): ``kind``
(``sft``, ``text`` or ``preference``), ``prompt`` (chat messages before the target turn),
``completion`` (the target assistant turn), ``label``, ``text``, ``chosen``, ``rejected``.
Each format is a small pure function in :data:`CONVERTERS`; every problem raises
:class:`RecordProblem` with an error code, so the caller can quarantine the record.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import RecordProblem

Example = dict[str, Any]
ROLES = {"system", "user", "assistant"}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "bot": "assistant", "model": "assistant", "system": "system"}


def describe_value(value: Any) -> str:
    """The type and size of a record value, never the value: quarantine messages hold no record text.

    ``quarantine.jsonl`` is unscrubbed-data-free by design (docs/data.md), and a stray value can be
    PII (an SSN stored as a number, a name in a role field), so messages say "an int" or "a str of
    12 characters" and point at ``source:line`` for the value itself.
    """
    if value is None:
        return "null"
    name = type(value).__name__
    article = "an" if name[0] in "aeiou" else "a"
    if isinstance(value, str):
        return f"a str of {_count(len(value), 'character')}"
    if isinstance(value, (list, tuple)):
        return f"{article} {name} of {_count(len(value), 'item')}"
    if isinstance(value, dict):
        return f"a dict with {_count(len(value), 'key')}"
    return f"{article} {name}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _known_alias(value: Any, vocabulary) -> str | None:
    """``value`` lower-cased when it is a word of ``vocabulary`` (ours, so safe to quote), else None."""
    if isinstance(value, str) and value.strip().lower() in vocabulary:
        return value.strip().lower()
    return None


def _text(obj: dict, key: str, *, required: bool = True, allow_empty: bool = False) -> str | None:
    """A string field; absent/non-string/empty values raise the matching error code."""
    if key not in obj or obj[key] is None:
        if required:
            raise RecordProblem("missing_field", f"field '{key}' is missing (keys present: {', '.join(sorted(obj))}).")
        return None
    value = obj[key]
    if not isinstance(value, str):
        raise RecordProblem(
            "non_string_field",
            f"field '{key}' is {describe_value(value)}, expected text; quote it in the source "
            "(or map a text column with data.fields).",
        )
    if not allow_empty and not value.strip():
        raise RecordProblem("empty_field", f"field '{key}' is empty.")
    return value


def _empty(kind: str) -> Example:
    return {"kind": kind, "prompt": [], "completion": "", "label": None, "text": None,
            "chosen": None, "rejected": None}


def check_messages(messages: Any, *, need_final_assistant: bool = True) -> list[dict[str, str]]:
    """Validate a chat transcript: known roles, string contents, user/assistant alternation."""
    if not isinstance(messages, list) or not messages:
        raise RecordProblem("missing_field", "'messages' must be a non-empty list of {role, content} objects.")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RecordProblem("non_string_field", f"message {i} is not an object with role and content.")
        role = m.get("role")
        if role not in ROLES:
            raise RecordProblem("unknown_role", _unknown_role_message(i, role))
        content = m.get("content")
        if not isinstance(content, str):
            raise RecordProblem("non_string_field",
                                f"message {i} ({role}) content is {describe_value(content)}, expected text.")
        out.append({"role": role, "content": content})
    turns = [m for m in out if m["role"] != "system"]
    if any(m["role"] == "system" for m in out[1:]):
        raise RecordProblem("bad_role_order", "a system message may only come first.")
    for i, m in enumerate(turns):
        want = "user" if i % 2 == 0 else "assistant"
        if m["role"] != want:
            raise RecordProblem(
                "bad_role_order", f"turn {i + 1} is '{m['role']}' but '{want}' was expected (turns alternate, user first)."
            )
    if need_final_assistant:
        if not turns or turns[-1]["role"] != "assistant":
            raise RecordProblem("bad_role_order", "the transcript must end with an assistant turn (the training target).")
        if not turns[-1]["content"].strip():
            raise RecordProblem("empty_field", "the final assistant turn is empty.")
    return out


def _unknown_role_message(i: int, role: Any) -> str:
    """Why message ``i``'s role is refused; the role itself is quoted only when it is a known word."""
    if role is None:
        return f"message {i} has no role; use system, user or assistant."
    known = _known_alias(role, ROLES)
    if known:
        return f"message {i} has role '{known}' written in another case or with spaces; write exactly '{known}'."
    alias = _known_alias(role, SHAREGPT_ROLES)
    if alias:
        return (f"message {i} has the ShareGPT role '{alias}'; in 'messages' write '{SHAREGPT_ROLES[alias]}' "
                "(or use ShareGPT's conversations: [{from, value}] layout).")
    return f"message {i} has a role ({describe_value(role)}) that is not system, user or assistant; use one of those."


def _split_target(messages: list[dict[str, str]]) -> tuple[list[dict[str, str]], str]:
    """(messages before the final assistant turn without system messages, the final assistant turn)."""
    prompt = [m for m in messages[:-1] if m["role"] != "system"]
    return prompt, messages[-1]["content"]


def from_fields(obj: dict, fields, task: str) -> Example:
    """Flat records mapped by ``data.fields`` (e.g. ``input: text``, ``label: intent``)."""
    text = _text(obj, fields.input)
    if task == "continued_pretraining":
        ex = _empty("text")
        ex["text"] = text
        return ex
    if not fields.label:
        raise RecordProblem("missing_field", f"task '{task}' needs a target: set data.fields.label.")
    target = _text(obj, fields.label)
    ex = _empty("sft")
    ex["prompt"] = [{"role": "user", "content": text}]
    ex["completion"] = target.strip() if task == "classification" else target
    if task == "classification":
        ex["label"] = ex["completion"]
    return ex


def from_prompt_completion(obj: dict, fields, task: str) -> Example:
    ex = _empty("sft")
    prompt = obj.get("prompt")
    if isinstance(prompt, list):
        ex["prompt"] = [m for m in check_messages(prompt, need_final_assistant=False) if m["role"] != "system"]
    else:
        ex["prompt"] = [{"role": "user", "content": _text(obj, "prompt")}]
    completion = obj.get("completion")
    if isinstance(completion, list):  # TRL conversational form: [{"role": "assistant", ...}]
        msgs = check_messages([{"role": "user", "content": "-"}, *completion])
        completion = msgs[-1]["content"]
    else:
        completion = _text(obj, "completion")
    ex["completion"] = completion
    if task == "classification":
        ex["label"] = completion.strip()
        ex["completion"] = ex["label"]
    return ex


def from_alpaca(obj: dict, fields, task: str) -> Example:
    instruction = _text(obj, "instruction")
    extra = _text(obj, "input", required=False, allow_empty=True) or ""
    ex = _empty("sft")
    ex["prompt"] = [{"role": "user", "content": instruction + (f"\n\n{extra}" if extra.strip() else "")}]
    ex["completion"] = _text(obj, "output")
    return ex


def from_messages(obj: dict, fields, task: str) -> Example:
    msgs = check_messages(obj.get("messages"))
    ex = _empty("sft")
    ex["prompt"], ex["completion"] = _split_target(msgs)
    return ex


def from_sharegpt(obj: dict, fields, task: str) -> Example:
    conv = obj.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise RecordProblem("missing_field", "'conversations' must be a non-empty list of {from, value} objects.")
    msgs = []
    for i, m in enumerate(conv):
        if not isinstance(m, dict):
            raise RecordProblem("non_string_field", f"conversation turn {i} is not an object.")
        role = SHAREGPT_ROLES.get(str(m.get("from", "")).lower())
        if role is None:
            raise RecordProblem("unknown_role", f"turn {i} has a 'from' ({describe_value(m.get('from'))}) that is "
                                                "not human, gpt or system; use one of those.")
        msgs.append({"role": role, "content": m.get("value")})
    return from_messages({"messages": msgs}, fields, task)


def _pref_side(obj: dict, key: str) -> str:
    value = obj.get(key)
    if isinstance(value, list):
        return check_messages([{"role": "user", "content": "-"}, *value])[-1]["content"]
    return _text(obj, key)


def from_preference(obj: dict, fields, task: str) -> Example:
    ex = _empty("preference")
    prompt = obj.get("prompt")
    if isinstance(prompt, list):
        ex["prompt"] = [m for m in check_messages(prompt, need_final_assistant=False) if m["role"] != "system"]
    else:
        ex["prompt"] = [{"role": "user", "content": _text(obj, "prompt")}]
    ex["chosen"], ex["rejected"] = _pref_side(obj, "chosen"), _pref_side(obj, "rejected")
    if ex["chosen"].strip() == ex["rejected"].strip():
        raise RecordProblem("identical_pair", "chosen and rejected are identical, so the pair teaches nothing.")
    ex["completion"] = ex["chosen"]
    return ex


def from_text(obj: dict, fields, task: str) -> Example:
    key = "text" if "text" in obj else fields.input
    ex = _empty("text")
    ex["text"] = _text(obj, key)
    return ex


CONVERTERS: dict[str, Callable[[dict, Any, str], Example]] = {
    "fields": from_fields,
    "prompt_completion": from_prompt_completion,
    "alpaca": from_alpaca,
    "messages": from_messages,
    "sharegpt": from_sharegpt,
    "preference": from_preference,
    "text": from_text,
}


def detect_format(obj: dict, fields, task: str) -> str:
    """Pick a record format from the keys of one record (``records: auto``)."""
    keys = set(obj)
    if "messages" in keys:
        return "messages"
    if "conversations" in keys:
        return "sharegpt"
    if {"chosen", "rejected"} <= keys:
        return "preference"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if {"prompt", "completion"} <= keys:
        return "prompt_completion"
    if fields.input in keys:
        return "fields"
    if "text" in keys:
        return "text"
    if fields.label and fields.label in keys:  # a mapped record that lacks its input field
        return "fields"
    raise RecordProblem(
        "unknown_format",
        f"keys {sorted(keys)} match no record format; map your columns with data.fields "
        f"(input: <column>, label: <column>) or set data.sources[].records.",
    )


def to_example(obj: dict, records: str, fields, task: str) -> Example:
    """Convert one record; raises :class:`RecordProblem` on any problem."""
    fmt = detect_format(obj, fields, task) if records == "auto" else records
    return CONVERTERS[fmt](obj, fields, task)


def record_id(obj: dict | None, fields, source: str, line: int) -> str:
    """The source id field when present and scalar, else ``<source>:<line>``."""
    key = fields.id or "id"
    if obj is not None and isinstance(obj.get(key), (str, int)) and str(obj[key]).strip():
        return str(obj[key]).strip()
    return f"{source}:{line}"
