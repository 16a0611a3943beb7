"""``tailorlm serve`` as a real process: keys from the CLI, a client that disconnects, SIGTERM drains,
and the plaintext key appears nowhere in the store or the logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from serve_helpers import free_port, project_with_version
from test_registry_helpers import raw_spec
from typer.testing import CliRunner

from tailorlm.cli.main import app
from tailorlm.registry import audit
from tailorlm.serve import tables

SRC = Path(__file__).resolve().parents[2] / "src"


def _write_spec(root: Path, tiny: Path) -> Path:
    raw = raw_spec()
    raw["model"] = {"base": str(tiny), "device": "cpu", "dtype": "float32"}
    raw["serve"] = {"max_tokens": 1000}
    raw["data"]["pii"] = {"ner": False}  # regex recognizers only: a faster start for the request log
    path = root / "tailor.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _wait(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer /health")


def _stream(url: str, key: str, max_tokens: int, model: str):
    # The base model: free text that runs to max_tokens (support-bot@1 is a classification version,
    # whose answers are constrained to its labels and stop after a few tokens).
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens,
            "temperature": 0, "stream": True}
    return httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=120,
                        headers={"Authorization": f"Bearer {key}"})


def _content_events(lines):
    for line in lines:
        if line.startswith("data: {") and '"content": "' in line and '"content": ""' not in line:
            yield line


def test_serve_process_cancels_drains_and_never_writes_the_key(tmp_path, tiny_model_dir):
    spec, ws = project_with_version(tmp_path, tiny_model_dir)
    spec_path = _write_spec(tmp_path, tiny_model_dir)
    created = CliRunner().invoke(app, ["keys", "create", "--name", "ci", "--role", "admin", "--json", "--spec",
                                       str(spec_path)])
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)["key"]
    listed = CliRunner().invoke(app, ["keys", "list", "--json", "--spec", str(spec_path)])
    assert "ci" in listed.stdout and key not in listed.stdout

    port, log_path = free_port(), tmp_path / "server.log"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tailorlm.cli.main", "-v", "serve", "--port", str(port),
                                 "--log-level", "debug", "--spec", str(spec_path)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, proc)
        # 1. A client that goes away after the first token cancels its generation.
        with _stream(url, key, 900, str(tiny_model_dir)) as resp:
            assert resp.status_code == 200
            next(_content_events(resp.iter_lines()))
        # 2. SIGTERM while a stream is in flight: the stream still finishes, then the process exits.
        with _stream(url, key, 200, str(tiny_model_dir)) as resp:
            lines = resp.iter_lines()
            next(_content_events(lines))
            proc.send_signal(signal.SIGTERM)
            rest = [ln for ln in lines if ln]
        assert rest[-1] == "data: [DONE]" and '"finish_reason": "length"' in "".join(rest)
        # uvicorn shuts down cleanly, then re-raises the signal so the exit status says SIGTERM.
        assert proc.wait(timeout=120) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = tables.read_requests(ws, limit=10)
    finish = sorted((r["finish_reason"], r["completion_tokens"]) for r in rows if r["endpoint"] == "/v1/chat/completions")
    assert finish[0][0] == "cancelled" and finish[0][1] < 900
    assert finish[1] == ("length", 200)
    actions = [r["action"] for r in audit.rows(ws)]
    assert actions[-2:] == ["serve.start", "serve.stop"] and "keys.create" in actions
    # The key in plain text: nowhere under .tailor/ (database, WAL, any file) nor in the server's log.
    secret = key.split("-", 2)[2].encode()
    for path in [log_path, *(p for p in (tmp_path / ".tailor").rglob("*") if p.is_file())]:
        data = path.read_bytes()
        assert key.encode() not in data and secret not in data, f"the key was found in {path}"
    assert "POST /v1/chat/completions" in log_path.read_text()  # the log really was written
