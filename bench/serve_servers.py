"""``bench/serve_load.py --setup-default DIR``: set up, start both servers, compare, stop them.

Ours: ``tailorlm serve --open-local`` in the set-up project (``--max-batch``, ``--max-queue``,
``--max-adapters 4``, ``--spec tailor.merged.yaml``): against the peer it serves version 1's merged
export as its base model, so both servers get the same weights under the same model name; the
version mix uses the 4 registered LoRA versions (adapters on one shared base). The peer:
``transformers serve --continuous-batching`` preloading version 1's merged export (``--peer-mode plain``: without continuous batching). A server that does not
answer ``/health`` within ``START_S`` stops the run with the end of its log. Both run as child
processes of this script, one after the other is measured (never both decoding at once), and are
stopped (SIGTERM, then SIGKILL) when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from serve_setup import describe, setup_default

START_S = 300
CB_BLOCK = 32  # tokens per block of the peer's paged KV cache


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exe(name: str) -> str:
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else name


def peer_dtype() -> str:
    """The peer's weights in the dtype ours answers in on this CPU (bf16 where tailorlm measures it
    faster, ``models.precision.for_inference``; else fp32), so neither side gets the other's handicap."""
    from tailorlm.models.precision import bf16_measured_faster, cpu_supports_bf16

    return "bfloat16" if cpu_supports_bf16() and bf16_measured_faster() else "float32"


@contextlib.contextmanager
def server(cmd: list[str], cwd: Path, log: Path, url: str):
    """A server process answering ``url + /health``; stopped on exit."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{cmd[0]} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{cmd[0]} did not answer /health in {START_S} s:\n{log.read_text()[-3000:]}")
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _warm(url: str, model: str, prompt: str) -> str:
    """Two small requests (the first loads the model); the answer text, to check the server works."""
    text = ""
    for _ in range(2):
        r = httpx.post(url + "/v1/completions", timeout=600,
                       json={"model": model, "prompt": prompt, "max_tokens": 4, "temperature": 0})
        r.raise_for_status()
        text = r.json()["choices"][0]["text"]
    return text


def run_with_setup(a: Any, compare: Callable, support_prompts: Callable) -> list[str]:
    """Set up under ``a.setup_default``, run ``compare`` on each server in turn, return missed aims."""
    root = Path(a.setup_default).resolve()
    t0 = time.perf_counter()
    s = setup_default(root)
    print(f"setup ({time.perf_counter() - t0:.0f} s): {describe(s)}", flush=True)
    prompts = support_prompts(str(s.project)) if a.workload == "support" else None
    from serve_load import PLAIN

    prompts = prompts or PLAIN
    ours_port, peer_port = free_port(), free_port()
    a.ours, a.ours_model = f"http://127.0.0.1:{ours_port}", str(s.merged)  # the same weights and name as the peer's
    a.ours_merged = True
    a.peer, a.peer_model = f"http://127.0.0.1:{peer_port}", str(s.merged)
    a.mix = a.mix or ",".join(s.versions)
    ours_cmd = [_exe("tailorlm"), "serve", "--open-local", "--port", str(ours_port), "--max-batch", str(a.max_batch),
                "--max-queue", str(a.max_queue), "--max-adapters", str(len(s.versions)), "--log-level", "warning",
                "--spec", str(s.merged_spec)]
    # The peer's paged KV cache is sized explicitly: left to itself on CPU it reserved ~8 GB and was
    # killed for memory on the 23 GB development machine.
    cb = (["--continuous-batching", "--cb-block-size", str(CB_BLOCK), "--cb-num-blocks",
           str(max(1, a.peer_kv_tokens // CB_BLOCK))] if a.peer_mode == "continuous-batching"
          else ["--no-continuous-batching"])
    peer_cmd = [_exe("transformers"), "serve", *cb, "--port", str(peer_port), "--device", "cpu", "--dtype",
                peer_dtype(), str(s.merged)]
    print(f"ours: {' '.join(ours_cmd)}\npeer: {' '.join(peer_cmd)}", flush=True)
    # Both servers up at once (the comparison alternates between them per point); only one is ever
    # under load at a time, so they do not compete for the cores while measured.
    with server(ours_cmd, s.project, root / "ours.log", a.ours), server(peer_cmd, root, root / "peer.log", a.peer):
        for v in s.versions:
            _warm(a.ours, v, prompts[0])
        same = _warm(a.ours, a.ours_model, prompts[0]) == _warm(a.peer, a.peer_model, prompts[0])
        print(f"same greedy answer from both on the first prompt: {same}", flush=True)
        missed = compare(a, prompts)
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)
    return missed
