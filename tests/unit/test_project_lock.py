"""Issue 11, item 2: one writer per project; a second is refused at once and told who holds the lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_registry_helpers import fake_dataset, fake_run, make_spec, raw_spec
from typer.testing import CliRunner

from tailorlm.cli.main import app
from tailorlm.lock import ProjectLocked, holder, project_lock
from tailorlm.registry import register_model
from tailorlm.workspace import Workspace

runner = CliRunner()
HOLD = """
import sys, time
from tailorlm.lock import project_lock
with project_lock(sys.argv[1], command="tailorlm train --resume"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture()
def project(tmp_path):
    spec = make_spec(tmp_path, None)
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(raw_spec()))
    ws = Workspace.for_spec(spec)
    register_model(spec, ws, fake_dataset(spec, ws), fake_run(ws, "run-1"), None)
    return tmp_path


def _files(root: Path) -> dict[str, int]:
    """Every file's mtime, and the store's rows (a refused command may open the SQLite store, which
    folds its write-ahead log back on close: that changes file times, not contents)."""
    import sqlite3

    out: dict[str, object] = {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*")
                              if p.is_file() and not p.name.startswith("tailor.db")}
    with sqlite3.connect(root / "tailor.db") as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            out[f"rows:{table}"] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    return out


@pytest.fixture()
def held(project):
    """Another process holding the project's lock (killed with SIGKILL at the end)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(project / ".tailor")], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("command", [["run"], ["data", "prepare"], ["train"], ["eval"]])
def test_a_second_writer_is_refused_and_told_who_holds_the_project(project, held, command):
    before = _files(project / ".tailor")
    res = runner.invoke(app, [*command, "--spec", str(project / "tailor.yaml")])
    assert res.exit_code == 3, res.output
    text = res.output.replace("\n", " ")
    assert f"process {held.pid}" in text and "tailorlm train --resume" in text
    assert "Traceback" not in res.output
    assert _files(project / ".tailor") == before  # nothing was prepared, trained or written


def test_read_only_commands_keep_working_while_a_writer_runs(project, held):
    for args in (["models", "list"], ["models", "show", "1"], ["audit", "log"], ["spec", "check"]):
        res = runner.invoke(app, [*args, "--spec", str(project / "tailor.yaml")])
        assert res.exit_code == 0, (args, res.output)


def test_a_killed_holder_releases_the_lock_and_its_stale_record_is_taken_over(project, held):
    tailor = project / ".tailor"
    assert holder(tailor)["pid"] == held.pid
    held.send_signal(signal.SIGKILL)
    held.wait()
    assert holder(tailor)["pid"] == held.pid  # the dead process's record is still on disk
    with project_lock(tailor, command="tailorlm run"):
        now = holder(tailor)
        assert now["pid"] == os.getpid() and now["command"] == "tailorlm run"
    assert holder(tailor) is None  # released on exit


def test_the_lock_is_reentrant_in_one_process_and_exclusive_across_processes(project):
    tailor = project / ".tailor"
    with project_lock(tailor):
        with project_lock(tailor):  # run -> its stages
            pass
        assert holder(tailor)["pid"] == os.getpid()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
        other = subprocess.run([sys.executable, "-c", (
            "import sys\nfrom tailorlm.lock import project_lock, ProjectLocked\n"
            "try:\n    with project_lock(sys.argv[1]): print('got it')\n"
            "except ProjectLocked as e: print('refused', e.exit_code)\n"), str(tailor)],
            capture_output=True, text=True, env=env, check=True)
        assert other.stdout.strip() == "refused 3"
    assert issubclass(ProjectLocked, Exception) and json.dumps(ProjectLocked.exit_code) == "3"
