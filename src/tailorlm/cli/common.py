"""Helpers shared by every CLI module: loading the spec with friendly errors, the console, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console(stderr=True)
out = Console()

SpecOption = typer.Option(
    Path("tailor.yaml"),
    "--spec",
    "-s",
    help="Path to tailor.yaml (or its folder).",
    show_default=True,
)


def fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load(spec_path: Path, check_files: bool = True):
    """Load and validate tailor.yaml; exits with the spec's own message on error."""
    from ..spec import SpecError, load_spec

    try:
        return load_spec(spec_path, check_files=check_files)
    except SpecError as exc:
        fail(str(exc))


def workspace(spec):
    from ..workspace import Workspace

    return Workspace.for_spec(spec)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
