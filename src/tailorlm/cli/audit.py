"""``tailorlm audit log | export | verify``: read, export and check the hash-chained audit log."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .common import SpecOption, fail, load, out, print_json, workspace

audit_app = typer.Typer(help="The append-only, hash-chained audit log: list, export, verify.", no_args_is_help=True)
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
ActionOption = typer.Option(None, "--action", help="Only this action; 'train' also matches train.start and train.end.")
SubjectOption = typer.Option(None, "--subject", help="Only this subject; a model name also matches NAME@VERSION.")
ActorOption = typer.Option(None, "--actor", help="Only rows by this user or API identity.")
SinceOption = typer.Option(None, "--since", help="Only rows at or after this UTC date/time, e.g. 2026-11-01 or 2026-11-01T09:30.")


def _ws(spec_path: Path):
    return workspace(load(spec_path, check_files=False))


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r}: not an ISO date/time; write e.g. 2026-11-01 or 2026-11-01T09:30")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()


@audit_app.command("log")
def log_cmd(
    action: Optional[str] = ActionOption,
    subject: Optional[str] = SubjectOption,
    actor: Optional[str] = ActorOption,
    since: Optional[str] = SinceOption,
    limit: int = typer.Option(50, "--limit", "-n", help="Show at most this many rows (newest first); 0 = all."),
    spec_path: Path = SpecOption,
    as_json: bool = JsonOption,
) -> None:
    """List audit rows, newest first, with filters.

    Examples:

        tailorlm audit log --action promote

        tailorlm audit log --subject northwind-support --since 2026-11-01 --json
    """
    from ..registry import audit

    rows = audit.rows(_ws(spec_path), action=action, subject=subject, actor=actor, since=_epoch(since),
                      limit=limit or None, newest_first=True)
    if as_json:
        print_json(rows)
        return
    table = Table(title="Audit log (newest first; --json for full details)")
    for col in ("seq", "time (UTC)", "actor", "action"):
        table.add_column(col, no_wrap=True)
    table.add_column("subject", no_wrap=True)
    table.add_column("details", overflow="fold")
    # Details get what the other columns leave, one line each (3 characters of border+padding per column).
    widest = {k: max((len(str(r[k])) for r in rows), default=0) for k in ("seq", "actor", "action", "subject")}
    budget = max(20, out.width - 19 - sum(max(w, 5) for w in widest.values()) - 6 * 3 - 1)
    for r in rows:
        when = dt.datetime.fromtimestamp(float(r["ts"]), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        details = json.dumps(r["details"], sort_keys=True, default=str)
        table.add_row(str(r["seq"]), when, r["actor"], r["action"], r["subject"],
                      details if len(details) <= budget else details[: budget - 1] + "…")
    out.print(table if rows else "no audit rows match.")


@audit_app.command("export")
def export_cmd(
    out_path: Optional[Path] = typer.Option(None, "--out", "-o", help="JSONL file to write (atomically); default stdout."),
    action: Optional[str] = ActionOption,
    subject: Optional[str] = SubjectOption,
    actor: Optional[str] = ActorOption,
    since: Optional[str] = SinceOption,
    spec_path: Path = SpecOption,
) -> None:
    """Write audit rows as JSON lines (oldest first), hashes included, for archiving or a SIEM.

    Example:

        tailorlm audit export --out audit-2026-11.jsonl --since 2026-11-01
    """
    from ..registry import audit

    ws = _ws(spec_path)
    n = audit.export(ws, out_path or sys.stdout, action=action, subject=subject, actor=actor, since=_epoch(since))
    if out_path:
        out.print(f"wrote {n} audit rows to {out_path}")


@audit_app.command("verify")
def verify_cmd(
    head: Optional[str] = typer.Option(None, "--head", help="A head hash printed by an earlier verify; detects rows cut from the end."),
    chain_only: bool = typer.Option(False, "--chain-only", help="Check the hash chain only, not the signatures (when the audit key is lost)."),
    spec_path: Path = SpecOption,
    as_json: bool = JsonOption,
) -> None:
    """Check the hash chain and each row's signature; exits 1 and names the first bad record.

    Catches rows edited, removed or reordered, and a chain rewritten with every hash recomputed by
    someone without the audit key (see `tailorlm audit rotate-key` for where the key lives).
    Keep the printed head hash somewhere else (a ticket, a WORM bucket) and pass it back with --head.

    Example:

        tailorlm audit verify --head 3f2a...
    """
    from ..registry import audit

    try:
        result = audit.verify(_ws(spec_path), expected_head=head, chain_only=chain_only)
    except audit.RegistryError as exc:
        fail(str(exc))
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        what = ("hash chain intact (signatures not checked)" if chain_only else
                f"chain intact, {result.signed} signed" + (f", {result.unsigned} unsigned (written before "
                                                           "audit signing existed)" if result.unsigned else ""))
        out.print(f"[green]ok[/]: {result.checked} audit rows, {what}. head {result.head}")
    else:
        out.print(f"[bold red]TAMPERED[/]: {result.reason}\n{result.checked} rows before it are intact.", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("rotate-key")
def rotate_key_cmd(spec_path: Path = SpecOption) -> None:
    """Start signing audit rows with a new key; older keys stay in the key file to verify older rows.

    The key file is $TAILORLM_AUDIT_KEY_FILE, default ~/.config/tailorlm/audit.key (mode 0600, one hex
    key per line, the last one signs); servers may pass keys in $TAILORLM_AUDIT_KEY instead (comma
    separated). Run it after a suspected key leak, or to recover when the old key is lost.
    """
    from ..registry import audit, audit_key

    try:
        row = audit.rotate_key(_ws(spec_path))
    except audit.RegistryError as exc:
        fail(str(exc))
    out.print(f"new audit key {row['details']['new_key_id']} in {audit_key.key_file_path()} (audit row "
              f"{row['seq']}); back it up somewhere the database's users cannot read.")


def register(app: typer.Typer) -> None:
    """Add the ``audit`` group to the root app."""
    app.add_typer(audit_app, name="audit")
