"""Run the API under uvicorn: refuse ``--open-local`` off loopback, drain on SIGTERM."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..errors import UserError
from .app import ServerOptions, build_app

# Seconds uvicorn waits for in-flight requests after SIGTERM/Ctrl-C before it cancels them.
GRACEFUL_SHUTDOWN_S = 120


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(options: ServerOptions) -> None:
    """Raises UserError for flag combinations that would be unsafe."""
    if options.open_local and not is_loopback(options.host):
        raise UserError(f"--open-local serves without API keys, so it only binds to a loopback address; "
                        f"--host {options.host} is reachable from other machines. Drop --open-local and create a key "
                        "with 'tailorlm keys create --name NAME', or use --host 127.0.0.1.")
    if options.max_queue < 1 or options.max_batch < 1 or options.max_adapters < 1:
        raise UserError("--max-queue, --max-batch and --max-adapters must be at least 1")
    if options.engine not in ("local", "vllm"):
        raise UserError(f"--engine {options.engine}: choose local (continuous batching on this machine) or vllm")


def serve(spec: Any, ws: Any, options: ServerOptions, log_level: str = "info") -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests finish, then the engine and request log close."""
    import uvicorn

    check_options(options)
    app = build_app(spec, ws, options)
    config = uvicorn.Config(app, host=options.host, port=options.port, log_level=log_level,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    uvicorn.Server(config).run()
