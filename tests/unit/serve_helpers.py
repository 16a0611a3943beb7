"""A live API server for the serving tests: a tmp project with the tiny random model registered.

The version's artifact is the tiny Llama itself (a "full" fine-tune as far as the registry knows),
so the server loads it through the same ``load_trained`` path as a real version.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from test_registry_helpers import fake_dataset, fake_eval, make_spec

from tailorlm.results import TrainRun
from tailorlm.workspace import Workspace


def register_tiny(spec, ws, tiny_model_dir: Path, run_id: str = "run-1"):
    """Register the tiny model as the next version of ``spec.project``; returns the ModelVersion."""
    from tailorlm.registry import register_model

    art = ws.runs / run_id / "model"
    shutil.copytree(tiny_model_dir, art)
    (art / "provenance.json").write_text(json.dumps({"method": "full", "base_ref": "tiny",
                                                     "base_path": str(tiny_model_dir)}))
    run = TrainRun(run_id=run_id, path=str(art.parent), model_path=str(art), method="full", base_ref="tiny",
                   base_path=str(tiny_model_dir), base_weight_hash="c" * 64, dataset_version="ds0001")
    return register_model(spec, ws, fake_dataset(spec, ws), run, fake_eval())


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    spec: Any
    ws: Any
    url: str
    server: Any
    thread: threading.Thread
    app: Any

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def project_with_version(root: Path, tiny_model_dir: Path, **serve: Any):
    spec = make_spec(root, None)
    spec.model.base = str(tiny_model_dir)  # the base model, served by its alias (here: a local path)
    spec.model.device, spec.model.dtype = "cpu", "float32"
    spec.data.pii.ner = False  # the request log's regex recognizers suffice here (NER is the data stage's test)
    for k, v in serve.items():
        setattr(spec.serve, k, v)
    ws = Workspace.for_spec(spec)
    register_tiny(spec, ws, tiny_model_dir)
    return spec, ws


def start_server(spec, ws, **options: Any) -> Live:
    """uvicorn on 127.0.0.1 (a free port) in a thread; returns once it answers /health."""
    import httpx
    import uvicorn

    from tailorlm.serve.app import ServerOptions, build_app

    port = free_port()
    opts = ServerOptions(host="127.0.0.1", port=port, **options)
    app = build_app(spec, ws, opts)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return Live(spec, ws, url, server, thread, app)
        time.sleep(0.05)
    raise RuntimeError("the test server did not start")
