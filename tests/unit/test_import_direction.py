"""The dependency direction: no stage package reaches into another stage package's internals, and the
CLI runs stages only through the pipeline's stage table.

Every module under ``src/tailorlm`` is parsed (``ast``, nothing is imported) and each of its imports,
at module level or inside a function, is resolved to a module of the package. An edge from a module
of one stage package to a *submodule* of another stage package fails the test unless it is in
:data:`ALLOWED` below, with the reason it is there. Importing another stage's package itself
(``from ..registry import resolve``: its public ``__init__``) is fine. Shared libraries (``models``,
``privacy``, ``store``, ``spec``, ``prompting``, ``text``, ``inference``...) may be imported by any stage.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "tailorlm"
STAGE_PACKAGES = {"data", "train", "align", "evaluate", "governance", "registry", "serve", "monitor", "rag"}

# (importing module, imported stage-package submodule) -> why the edge is accepted for now.
ALLOWED = {
    ("tailorlm.data.preview", "tailorlm.train.tokenize"):
        "data preview shows the training stage's own label masks (one encoder, no copy)",
    ("tailorlm.train.run", "tailorlm.data.lengths"):
        "the length budget (shared system-prompt tokens) is computed once, by the data stage's function",
    ("tailorlm.evaluate.classical", "tailorlm.rag.index"):
        "the classical baseline's nearest-answer query is retrieval's query text",
    ("tailorlm.evaluate.scoring", "tailorlm.rag.index"):
        "faithfulness scoring reads the same query text retrieval used",
    ("tailorlm.registry.aliases", "tailorlm.evaluate.gates"):
        "promotion re-checks the acceptance criteria with evaluation's gate function",
    ("tailorlm.serve.app", "tailorlm.registry.audit"):
        "the server writes audit records (key use) to the registry's hash chain",
    ("tailorlm.serve.keys", "tailorlm.registry.audit"):
        "key creation and revocation are audited in the registry's hash chain",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC / rel).with_suffix(".py").exists() or (SRC / rel / "__init__.py").exists()


def _imports(path: Path) -> set[str]:
    """Every ``tailorlm`` module ``path`` imports (relative imports resolved; names that are not modules
    resolve to the module they come from)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}"))
    return {m for m in found if m.startswith("tailorlm.") and _is_module(m)}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGE_PACKAGES else None


def _edges() -> set[tuple[str, str]]:
    edges = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        src = _module_name(path)
        for dst in _imports(path):
            internal = len(dst.split(".")) > 2  # a submodule, not the stage package's public __init__
            if _stage(src) and _stage(dst) and _stage(src) != _stage(dst) and internal:
                edges.add((src, dst))
    return edges


def test_the_walker_sees_a_known_edge():
    """The walker resolves relative imports inside functions (else the check below could never fail)."""
    assert ("tailorlm.models.trained", "tailorlm.models.quantized") in {
        (_module_name(p), m) for p in PACKAGE.rglob("trained.py") for m in _imports(p)}
    assert ("tailorlm.registry.aliases", "tailorlm.evaluate.gates") in _edges()


def test_no_stage_package_imports_another_stages_internals_outside_the_allowed_list():
    new = sorted(_edges() - set(ALLOWED))
    assert not new, ("stage -> other stage internals, not in ALLOWED (move the shared code to models/, "
                     f"privacy/, store/ or another shared module, or add the edge with its reason): {new}")


def test_every_allowed_edge_still_exists():
    """A stale entry would silently allow the edge back later: remove it once the import is gone."""
    assert sorted(set(ALLOWED) - _edges()) == []


def test_evaluation_registry_and_serving_never_import_train():
    assert sorted((s, d) for s, d in _edges() if _stage(s) in {"evaluate", "registry", "serve"}
                  and _stage(d) == "train") == []


def test_the_cli_imports_no_stage_function():
    """CLI commands run stages through ``pipeline.run_pipeline`` (the stage table), never a ``stage_*``."""
    offenders = []
    for path in sorted((PACKAGE / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[-1].startswith("stage_")]
            if isinstance(node, ast.Attribute) and node.attr.startswith("stage_"):
                offenders.append(f"{path.name}: .{node.attr}")
    assert offenders == []
