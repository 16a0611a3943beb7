"""``tailorlm serve``, ``tailorlm keys create | list | revoke`` and ``tailorlm chat``."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from .common import SpecOption, console, fail, load, out, print_json, workspace

keys_app = typer.Typer(help="API keys for 'tailorlm serve': create (shown once), list, revoke.", no_args_is_help=True)


def _open(spec_path: Path):
    spec = load(spec_path, check_files=False)
    return spec, workspace(spec)


def _guard(fn, *args, **kwargs):
    """Run ``fn``; a UserError (and the catalog's ModelNotFound) becomes a message and exit code 1."""
    from ..errors import UserError
    from ..serve.catalog import ModelNotFound

    try:
        return fn(*args, **kwargs)
    except (UserError, ModelNotFound) as exc:
        fail(escape(str(exc)), code=1)


def _need_extra() -> None:
    """The serving libraries are the ``serve`` extra: say how to get them instead of a traceback."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "argon2", "limits", "lmformatenforcer", "prometheus_client")
               if importlib.util.find_spec(m) is None]
    if missing:
        fail(f"serving needs {', '.join(missing)}: pip install 'tailorlm[serve]'", code=1)


def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_queue: int = typer.Option(16, "--max-queue", help="Requests that may wait for the engine; more get 429."),
    max_batch: int = typer.Option(8, "--max-batch",
                                  help="Rows decoded together (continuous batching; a request with n choices takes n)."),
    max_adapters: int = typer.Option(8, "--max-adapters",
                                     help="LoRA versions kept loaded on their shared base; least recently used evicted."),
    engine: str = typer.Option("local", "--engine",
                               help="local (continuous batching here) or vllm (CUDA machines; pip install vllm)."),
    open_local: bool = typer.Option(False, "--open-local",
                                    help="Serve without API keys; refused unless --host is a loopback address."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: debug, info, warning, error."),
    spec_path: Path = SpecOption,
) -> None:
    """Serve every registered version over an OpenAI-compatible API (and the base model by its alias).

    Models are addressed by registry references: NAME@production, NAME@3, NAME (latest). Every
    request needs a key from 'tailorlm keys create' (except with --open-local on 127.0.0.1).
    SIGTERM or Ctrl-C finishes the requests in flight, then exits.

    Example:

        tailorlm keys create --name app --role user

        tailorlm serve --port 8000
    """
    _need_extra()
    from ..serve.app import ServerOptions
    from ..serve.server import serve

    spec, ws = _open(spec_path)
    opts = ServerOptions(host=host, port=port, open_local=open_local, max_queue=max_queue, max_batch=max_batch,
                         max_adapters=max_adapters, engine=engine)
    _guard(serve, spec, ws, opts, log_level)


@keys_app.command("create")
def keys_create(
    name: str = typer.Option(..., "--name", help="A name for the key (shown in logs instead of the key)."),
    role: str = typer.Option("user", "--role", help="user (the /v1 API) or admin (also /v1/admin routes)."),
    rpm: Optional[int] = typer.Option(None, "--rpm", help="Requests per minute (default: no limit)."),
    tpm: Optional[int] = typer.Option(None, "--tpm", help="Tokens per minute: prompt + max_tokens (default: no limit)."),
    spec_path: Path = SpecOption,
    as_json: bool = typer.Option(False, "--json", help="Print the key and its settings as JSON."),
) -> None:
    """Create an API key and print it once: it is stored only as an argon2 hash, so copy it now."""
    _need_extra()
    from ..serve.keys import create_key

    spec, ws = _open(spec_path)
    key, row = _guard(create_key, ws, name, role, rpm, tpm)
    if as_json:
        print_json({"key": key, **row.public()})
        return
    out.print(key, highlight=False, soft_wrap=True)
    console.print(f"key {row.name!r} ({row.role}) created. It is shown only this once; store it in a secret manager.",
                  highlight=False)


def _when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


@keys_app.command("list")
def keys_list(spec_path: Path = SpecOption,
              as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON.")) -> None:
    """List keys (names, roles, limits, revocation); never the keys themselves."""
    from ..serve.tables import list_keys

    _, ws = _open(spec_path)
    rows = [r.public() for r in list_keys(ws)]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "id", "role", "rpm", "tpm", "created", "by", "revoked")
    for r in rows:
        table.add_row(r["name"], r["key_id"], r["role"], str(r["rpm"] or "-"), str(r["tpm"] or "-"),
                      _when(r["created_at"]), r["created_by"], _when(r["revoked_at"]))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(name: str = typer.Argument(..., help="The key's name."), spec_path: Path = SpecOption) -> None:
    """Revoke a key: a running server refuses it (401) from its next request on."""
    from ..serve.keys import revoke_key

    _, ws = _open(spec_path)
    _guard(revoke_key, ws, name)
    console.print(f"key {name!r} revoked", highlight=False)


def chat_cmd(
    ref: str = typer.Argument(..., help="NAME@ALIAS, NAME@VERSION, NAME (latest), VERSION, or the base model's alias."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Answer budget in tokens."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 = greedy (the evaluation's decoding)."),
    spec_path: Path = SpecOption,
) -> None:
    """Chat with a model version in the terminal (streams; /reset, /quit). Also: echo "..." | tailorlm chat REF."""
    _need_extra()
    from ..serve.chat import run_chat

    spec, ws = _open(spec_path)
    _guard(run_chat, spec, ws, ref, sys.stdin, sys.stdout, interactive=sys.stdin.isatty(),
           max_tokens=max_tokens, temperature=temperature)


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``keys`` and ``chat`` to the root app."""
    app.command("serve")(serve_cmd)
    app.add_typer(keys_app, name="keys")
    app.command("chat")(chat_cmd)
