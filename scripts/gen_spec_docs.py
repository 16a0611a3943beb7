"""Write the tailor.yaml reference (docs/spec.md) from the pydantic models; CI checks it is current.

Usage: python scripts/gen_spec_docs.py > docs/spec.md
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from tailorlm.spec import TailorSpec

ROOT = Path(__file__).resolve().parents[1]


def _models_in(annotation) -> list[type[BaseModel]]:
    found = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            found.append(a)
        stack.extend(typing.get_args(a))
    return found


def _type_name(annotation) -> str:
    text = str(annotation).replace("typing.", "")
    for prefix in ("tailorlm.spec.common.", "tailorlm.spec.data.", "tailorlm.spec.train.",
                   "tailorlm.spec.evaluate.", "tailorlm.spec.model.", "tailorlm.spec.objective.", "tailorlm.spec.serve.",
                   "tailorlm.spec."):
        text = text.replace(prefix, "")
    return text.replace("<class '", "").replace("'>", "")


def _default(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory else field.default
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{value!r}`"


def _doc_attrs(model: type[BaseModel]) -> dict[str, str]:
    """Attribute descriptions from the Google-style docstring's ``Attributes:`` block."""
    out: dict[str, str] = {}
    doc = model.__doc__ or ""
    if "Attributes:" not in doc:
        return out
    current = None
    for line in doc.split("Attributes:", 1)[1].splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if ":" in stripped and not line.startswith(" " * 12) and stripped.split(":")[0].replace("_", "").replace(" / ", "").isalnum():
            current, text = stripped.split(":", 1)
            out[current.strip()] = text.strip()
        elif current:
            out[current] += " " + stripped
    return out


def section(model: type[BaseModel], path: str, seen: set) -> list[str]:
    if model in seen:
        return []
    seen.add(model)
    lines = [f"## `{path}`\n"]
    first = (model.__doc__ or "").strip().split("\n\n")[0].strip()
    if first:
        lines.append(first.replace("\n", " ") + "\n")
    lines.append("| key | type | default | meaning |\n| --- | --- | --- | --- |")
    attrs = _doc_attrs(model)
    nested = []
    for name, field in model.model_fields.items():
        meaning = field.description or attrs.get(name, "")
        lines.append(f"| `{name}` | `{_type_name(field.annotation)}` | {_default(field)} | {meaning} |")
        for sub in _models_in(field.annotation):
            nested.append((sub, f"{path}.{name}" if path else name))
    lines.append("")
    for sub, sub_path in nested:
        lines.extend(section(sub, sub_path, seen))
    return lines


def render() -> str:
    head = [
        "# `tailor.yaml` reference\n",
        "Generated from the pydantic models in `src/tailorlm/spec/` by `scripts/gen_spec_docs.py`",
        "(`make docs`); a test fails when it is stale. Unknown keys are errors (with a did-you-mean);",
        "`tailorlm spec check` validates a file and `tailorlm spec schema` prints the JSON schema.\n",
        "An example: [`src/tailorlm/templates/support/tailor.yaml`](../src/tailorlm/templates/support/tailor.yaml).",
        "Acceptance criteria are strings `<metric> <op> <number>` (ops `>=`, `<=`, `>`, `<`, `==`), e.g.",
        "`accuracy >= 0.85` or `p95_latency_ms <= 800`; a metric that does not apply to the task is an error.\n",
    ]
    body = section(TailorSpec, "", set())
    body[0] = "## top level\n"
    return "\n".join(head + body) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
