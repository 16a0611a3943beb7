"""The CLI reference in docs/cli.md is generated from --help and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    current = (ROOT / "docs" / "cli.md").read_text()
    assert mod.render() == current, "docs/cli.md is stale: run 'make docs' and commit it"


def test_every_command_has_help_with_text():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from typer.main import get_command

    from tailorlm.cli.main import app

    for path, cmd in mod.walk(get_command(app), []):
        if path:
            assert (cmd.help or "").strip(), f"'tailorlm {' '.join(path)}' has no help text"


def test_spec_reference_is_current():
    spec = importlib.util.spec_from_file_location("gen_spec_docs", ROOT / "scripts" / "gen_spec_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    current = (ROOT / "docs" / "spec.md").read_text()
    assert mod.render() == current, "docs/spec.md is stale: run 'make docs' and commit it"
