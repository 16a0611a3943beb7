"""Issue 11, item 1: an export (or any atomic folder write) never destroys what tailorlm did not write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_registry_helpers import fake_dataset, fake_run, make_spec, raw_spec
from typer.testing import CliRunner

from tailorlm.artifacts import MARKER, UnsafeTarget, atomic_dir
from tailorlm.cli.main import app
from tailorlm.registry import register_model
from tailorlm.workspace import Workspace

runner = CliRunner()


@pytest.fixture()
def project(tmp_path):
    """A project in ``tmp_path/proj`` with one registered version."""
    root = tmp_path / "proj"
    spec = make_spec(root, None)
    (root / "tailor.yaml").write_text(yaml.safe_dump(raw_spec()))
    ws = Workspace.for_spec(spec)
    register_model(spec, ws, fake_dataset(spec, ws), fake_run(ws, "run-1"), None)
    return root


def _export(root: Path, out: Path, *extra: str):
    return runner.invoke(app, ["models", "export", "1", "--out", str(out), "--spec", str(root / "tailor.yaml"), *extra])


def _snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize("where", ["root", "above", "tailor_dir", "data"])
@pytest.mark.parametrize("force", [False, True])
def test_export_never_replaces_the_project(project, where, force):
    target = {"root": project, "above": project.parent, "tailor_dir": project / ".tailor", "data": project / "data"}[where]
    before = _snapshot(project)
    res = _export(project, target, *(["--force"] if force else []))
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    assert "nothing was written" in res.output or "inside the project's" in res.output
    assert _snapshot(project) == before  # tailor.yaml, data and the store are all still there
    assert runner.invoke(app, ["models", "list", "--spec", str(project / "tailor.yaml")]).exit_code == 0


def test_export_refuses_a_foreign_folder_unless_forced(project, tmp_path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("keep me")
    res = _export(project, mine)
    assert res.exit_code == 2 and "--force" in res.output and str(mine) in res.output.replace("\n", "")
    assert (mine / "todo.txt").read_text() == "keep me"
    forced = _export(project, mine, "--force")
    assert forced.exit_code == 0, forced.output
    assert not (mine / "todo.txt").exists() and (mine / "adapter_model.safetensors").exists()


def test_export_replaces_its_own_previous_export_and_leaves_no_trash(project, tmp_path):
    out = tmp_path / "dist"
    assert _export(project, out).exit_code == 0
    assert (out / MARKER).is_file()
    again = _export(project, out)
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist", "proj"]  # no .staging-* / .trash-*


def test_export_to_a_file_is_refused_and_leaves_nothing_behind(project, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    res = _export(project, notes, "--force")
    assert res.exit_code == 2 and "is a file" in res.output
    assert notes.read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "proj"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_a_killed_writer_are_cleaned_and_the_old_folder_restored(tmp_path):
    pid = _dead_pid()
    final = tmp_path / "out"
    # Killed between its two renames: the old folder sits in the trash, the new one in staging.
    old = tmp_path / f".trash-out-{pid}"
    old.mkdir()
    (old / MARKER).write_text("{}")
    (old / "weights.bin").write_text("v1")
    half = tmp_path / f".staging-out-{pid}-abc123"
    half.mkdir()
    (half / "weights.bin").write_text("half")
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as staging:
            (staging / "weights.bin").write_text("v2")
            raise RuntimeError("writer failed")
    assert (final / "weights.bin").read_text() == "v1"  # the previous version came back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_dir_refuses_a_folder_holding_a_project_even_with_force(tmp_path):
    (tmp_path / "old" / "inner").mkdir(parents=True)
    (tmp_path / "old" / "inner" / "tailor.yaml").write_text("project: x\n")
    with pytest.raises(UnsafeTarget, match="holds a tailorlm project"):
        with atomic_dir(tmp_path / "old", force=True):
            pass
    assert (tmp_path / "old" / "inner" / "tailor.yaml").exists()


def test_leftovers_of_other_targets_in_the_same_folder_are_cleaned_too(tmp_path):
    pid = _dead_pid()
    (tmp_path / f".staging-v1-{pid}-k3j4h5g6").mkdir()  # a killed writer of another version
    (tmp_path / f".trash-v0-{pid}").mkdir()  # killed between its renames: v0 is put back
    (tmp_path / "keep-me").mkdir()
    with atomic_dir(tmp_path / "v2") as staging:
        (staging / "f").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep-me", "v0", "v2"]


def test_folders_inside_tailor_dir_written_before_the_marker_are_still_replaced(tmp_path):
    old = tmp_path / ".tailor" / "datasets" / "t" / "abc123"
    old.mkdir(parents=True)
    (old / "train.parquet").write_text("old")  # an older tailorlm's version: no marker
    with atomic_dir(old) as staging:
        (staging / "train.parquet").write_text("new")
    assert (old / "train.parquet").read_text() == "new"


def test_a_file_writer_pointed_at_a_folder_is_refused(project, tmp_path):
    res = runner.invoke(app, ["audit", "export", "--out", str(tmp_path), "--spec", str(project / "tailor.yaml")])
    assert res.exit_code == 2 and "is a folder" in res.output
    assert isinstance(res.exception, SystemExit)  # a message, not an uncaught exception
    assert (project / "tailor.yaml").exists()
