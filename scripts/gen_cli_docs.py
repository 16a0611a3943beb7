"""Write the CLI reference (docs/cli.md) from the commands' own --help; CI checks it is current.

Usage: python scripts/gen_cli_docs.py > docs/cli.md
"""

from __future__ import annotations

import os
import sys

os.environ["COLUMNS"] = "100"
os.environ["NO_COLOR"] = "1"
os.environ["TERM"] = "dumb"
os.environ["_TYPER_FORCE_DISABLE_TERMINAL"] = "1"

import click  # noqa: E402
from typer.main import get_command  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from tailorlm.cli.main import app  # noqa: E402


def walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if hasattr(cmd, "commands"):  # a group (typer vendors its own click, so no isinstance check)
        for name in sorted(cmd.commands):
            yield from walk(cmd.commands[name], [*path, name])


def render() -> str:
    runner = CliRunner()
    root = get_command(app)
    parts = [
        "# CLI reference\n",
        "Generated from `--help` by `scripts/gen_cli_docs.py` (`make docs`); a test fails when it is stale.\n",
    ]
    for path, _cmd in walk(root, []):
        res = runner.invoke(app, [*path, "--help"], terminal_width=100)
        title = " ".join(["tailorlm", *path])
        body = "\n".join(line.rstrip() for line in res.output.strip().splitlines())
        parts.append(f"## `{title}`\n\n```text\n{body}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
