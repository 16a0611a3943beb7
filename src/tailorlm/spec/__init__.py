"""The project spec, ``tailor.yaml``, parsed once into typed sections.

Each stage receives its own section (``spec.data``, ``spec.train``...), never a raw dict.
Errors name the YAML path, the problem and a fix (with a did-you-mean for unknown keys).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from ..errors import UserError
from .common import Criterion, Strict
from .data import DataSpec
from .evaluate import EvalSpec
from .model import ModelSpec
from .objective import ObjectiveSpec
from .serve import ServeSpec
from .train import TrainSpec

__all__ = [
    "Criterion",
    "DataSpec",
    "EvalSpec",
    "ModelSpec",
    "ObjectiveSpec",
    "ServeSpec",
    "SpecError",
    "TailorSpec",
    "TrainSpec",
    "load_spec",
]


class WorkspaceSpec(Strict):
    """Where the store lives. ``store_url`` is any SQLAlchemy URL; default SQLite in ``.tailor/``."""

    store_url: str | None = None


class TailorSpec(Strict):
    """The whole ``tailor.yaml``.

    Attributes:
        project: the project name; also the registered model's name (letters, digits, ``._-``).
        objective: the task and the acceptance criteria a model must meet to ship.
        data: raw sources and the curation steps that turn them into a dataset version.
        model: the base model, device and dtype.
        train: the fine-tuning method and hyperparameters.
        eval: the systems compared on the test split, generation settings and ROI prices.
        serve: the serving API's limits and request log.
        workspace: where the store lives.
    """

    project: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    objective: ObjectiveSpec = ObjectiveSpec()
    data: DataSpec
    model: ModelSpec = ModelSpec()
    train: TrainSpec = TrainSpec()
    eval: EvalSpec = EvalSpec()
    serve: ServeSpec = ServeSpec()
    workspace: WorkspaceSpec = WorkspaceSpec()

    # Set by load_spec: the folder tailor.yaml lives in (paths are relative to it).
    _root: Path = Path(".")

    @model_validator(mode="after")
    def _default_systems(self) -> "TailorSpec":
        if self.eval.systems is None:  # the task decides what a fine-tuned model must beat
            from .evaluate import DEFAULT_SYSTEMS

            self.eval.systems = list(DEFAULT_SYSTEMS[self.objective.task])
        return self

    @property
    def root(self) -> Path:
        return self._root

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self._root / p)

    def section_dict(self, name: str) -> dict[str, Any]:
        """A JSON-able dict of one section, used to hash a stage's inputs."""
        return getattr(self, name).model_dump(mode="json")


class SpecError(UserError):
    """A tailor.yaml problem a user can fix; the message names the location and the fix."""


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """Walk the pydantic model tree along ``loc`` to find the model that owns the last key."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ()) or ()
        candidates = [ann, *args]
        nxt = None
        for c in candidates:
            inner = getattr(c, "__args__", ()) or ()
            for cc in (c, *inner):
                if isinstance(cc, type) and issubclass(cc, BaseModel):
                    nxt = cc
                    break
            if nxt:
                break
        if nxt is None:
            return None
        current = nxt
    return current


def yaml_lines(text: str) -> dict[tuple, int]:
    """Map each YAML path (tuple of keys/indexes) to its 1-based line, for error messages."""
    out: dict[tuple, int] = {}

    def walk(node: Any, path: tuple) -> None:
        out[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                out[(*path, k.value)] = k.start_mark.line + 1
                walk(v, (*path, k.value))
                out[(*path, k.value)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, i))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out
    if root is not None:
        walk(root, ())
    return out


def _format_errors(exc: ValidationError, source: str, lines_of: dict[tuple, int] | None = None) -> str:
    lines = [f"{source}: {exc.error_count()} problem(s):"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
        lines_of = lines_of or {}
        line = lines_of.get(loc) or (lines_of.get(loc[:-1]) if len(loc) > 1 else None)
        if line:
            path = f"line {line}: {path}"
        if err["type"] == "extra_forbidden":
            owner = _model_at(TailorSpec, loc)
            known = list(getattr(owner, "model_fields", {}).keys()) if owner else []
            guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f" Did you mean '{guess[0]}'?" if guess else ""
            allowed = f" Allowed keys here: {', '.join(known)}." if known else ""
            lines.append(f"  - {path}: unknown key.{hint}{allowed}")
        elif err["type"] == "missing":
            lines.append(f"  - {path}: required key is missing; add it to tailor.yaml.")
        else:
            got = err.get("input")
            got_s = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"  - {path}: {msg}{got_s}.")
    return "\n".join(lines)


def parse_spec(
    raw: dict[str, Any], root: Path, source: str = "tailor.yaml", lines_of: dict[tuple, int] | None = None
) -> TailorSpec:
    """Validate a parsed YAML mapping into a :class:`TailorSpec` (no file-system checks)."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the top level must be a mapping of keys (project:, data:, ...).")
    try:
        spec = TailorSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_errors(exc, source, lines_of)) from None
    spec._root = root
    return spec


class _DuplicateKey(Exception):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (else the last one silently wins)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKey(f"line {line}: key '{key}' is given twice (first on line {seen[key]}); "
                                    "only one would be used. Remove or merge one of them.")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_spec(path: str | Path = "tailor.yaml", check_files: bool = True) -> TailorSpec:
    """Read, validate and cross-check ``tailor.yaml``. Never loads a model; runs in well under 2 s.

    Raises:
        SpecError: with the YAML path of every problem and how to fix it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "tailor.yaml"
    if not path.exists():
        raise SpecError(
            f"{path}: no such file. Create one with 'tailorlm init DIR --template support' "
            "or pass --spec PATH."
        )
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as exc:
        raise SpecError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    spec = parse_spec(raw, path.parent.resolve(), str(path), yaml_lines(text))
    from .checks import cross_check  # local: checks imports heavier modules lazily

    problems = cross_check(spec, check_files=check_files)
    if problems:
        lines_of = yaml_lines(text)
        located = [_with_line(p, lines_of) for p in problems]
        raise SpecError(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in located))
    return spec


def _parse_path(dotted: str) -> tuple:
    """``data.sources[0].path`` -> ``('data', 'sources', 0, 'path')``."""
    out: list[Any] = []
    for part in dotted.replace("[", ".[").split("."):
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            out.append(int(part[1:-1]))
        elif part:
            out.append(part)
    return tuple(out)


def _with_line(problem: str, lines_of: dict[tuple, int]) -> str:
    """Prefix a cross-check problem ("<yaml path>: ...") with the line its path starts on."""
    head = problem.split(":", 1)[0]
    loc = _parse_path(head)
    while loc and loc not in lines_of:
        loc = loc[:-1]
    return f"line {lines_of[loc]}: {problem}" if loc else problem
