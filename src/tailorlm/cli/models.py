"""``tailorlm models list | show | promote | alias | delete | export`` and ``tailorlm lineage``.

Every VERSION argument accepts ``NAME@3``, ``NAME@production``, ``NAME`` (latest) or ``3`` (a
version of this project's model). Tables on the terminal, ``--json`` for scripts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from .common import SpecOption, console, fail, load, out, print_json, workspace

models_app = typer.Typer(help="Registered model versions: list, inspect, promote, alias, delete, export.",
                         no_args_is_help=True)
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
RefArgument = typer.Argument(..., help="NAME@VERSION, NAME@ALIAS, NAME (latest) or VERSION.")


def _open(spec_path: Path):
    spec = load(spec_path, check_files=False)
    return spec, workspace(spec)


def _when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _call(fn, *args, **kwargs) -> Any:
    """Run a registry call; its errors become a red message and exit code 1, not a traceback."""
    from rich.markup import escape

    from ..registry import RegistryError

    try:
        return fn(*args, **kwargs)
    except RegistryError as exc:
        fail(escape(str(exc)), code=1)  # messages hold "[fine_tuned]": not rich markup


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else "-" if v is None else str(v)


@models_app.command("list")
def list_cmd(
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Only this model (default: all models)."),
    include_deleted: bool = typer.Option(False, "--all", "-a", help="Include soft-deleted versions."),
    spec_path: Path = SpecOption,
    as_json: bool = JsonOption,
) -> None:
    """List model versions, newest first, with aliases and the gate verdict.

    Example:

        tailorlm models list --all
    """
    from ..registry import list_versions

    _, ws = _open(spec_path)
    versions = list_versions(ws, name, include_deleted=include_deleted)
    if as_json:
        print_json(versions)
        return
    wide = out.width >= 110  # the run id (in `models show` too) only where it fits without squeezing
    from rich import box

    table = Table(title="Model versions", box=None if not wide else box.HEAVY_HEAD)
    table.add_column("version", no_wrap=True)
    table.add_column("aliases", min_width=9)
    table.add_column("gates", no_wrap=True)
    table.add_column("dataset", no_wrap=True)
    if wide:
        table.add_column("run", no_wrap=True)
    table.add_column("by")
    table.add_column("created (UTC)", no_wrap=True)
    for v in versions:
        gates = "-" if v["passed"] is None else "[green]passed[/]" if v["passed"] else "[red]failed[/]"
        ref = f"[strike]{v['ref']}[/] (deleted)" if v["deleted_at"] else v["ref"]
        if v["files"] == "missing":
            ref += " [red](files missing)[/]"
        run = [v["run_id"]] if wide else []
        table.add_row(ref, ", ".join(v["aliases"]), gates, v["dataset_version"], *run, v["created_by"],
                      _when(v["created_at"])[:16])
    out.print(table if versions else "no model versions yet: run 'tailorlm run' (or 'tailorlm train' then 'tailorlm eval').")
    if any(v["files"] == "missing" for v in versions):
        console.print("[red]some versions' files are missing[/]: 'tailorlm models show VERSION' says how to recover.")


def _show_tables(mv, aliases: list[str], gates: list[dict], verified: dict | None) -> list[Table]:
    lin = mv.lineage
    info = Table(title=f"{mv.ref}", show_header=False)
    info.add_column("field")
    info.add_column("value", overflow="fold")
    rows = [
        ("path", mv.path), ("aliases", ", ".join(aliases) or "-"), ("created by", mv.created_by),
        ("created (UTC)", _when(mv.created_at)), ("run", mv.run_id),
        ("dataset", f"{mv.dataset_version} (manifest {str(lin.get('dataset', {}).get('manifest_sha256'))[:16]})"),
        ("base model", f"{lin.get('base_model', {}).get('ref')} (weights {str(lin.get('base_model', {}).get('weight_hash'))[:16]})"),
        ("artifact sha256", lin.get("artifact", {}).get("sha256")), ("code version", lin.get("code_version")),
        ("model card", str(Path(mv.path) / "MODEL_CARD.md")),
    ]
    if verified is not None:
        rows.append(("artifact check", "[green]intact[/]" if verified["ok"] else "[red]FILES MISSING[/]"
                     if verified["sha256"] is None else f"[red]CHANGED[/] now {verified['sha256']}"))
    for k, v in rows:
        info.add_row(k, str(v))
    tables = [info]
    systems = (mv.evaluation or {}).get("systems") or {}
    if systems:
        # One row per metric, one column per system: metric lists are long, systems are few.
        metrics = sorted({k for m in systems.values() for k, v in m.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)})
        ev = Table(title="Evaluation (test split)")
        ev.add_column("metric", no_wrap=True)
        for s in systems:
            ev.add_column(s, justify="right")
        for m in metrics:
            ev.add_row(m, *(_fmt(vals.get(m)) for vals in systems.values()))
        tables.append(ev)
    if gates:
        gt = Table(title="Promotion gates")
        for col in ("system", "criterion", "value", "passed"):
            gt.add_column(col)
        for g in gates:
            gt.add_row(g.get("system", ""), str(g.get("criterion")), _fmt(g.get("value")),
                       "[green]yes[/]" if g.get("passed") else "[red]no[/]")
        tables.append(gt)
    return tables


@models_app.command("show")
def show(
    ref: str = RefArgument,
    verify: bool = typer.Option(False, "--verify", help="Recompute the artifact hash and compare it with the lineage."),
    card: bool = typer.Option(False, "--card", help="Print the model card (Markdown) instead of tables."),
    spec_path: Path = SpecOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one version: lineage, evaluation, gates and aliases (deleted versions too).

    Examples:

        tailorlm models show northwind-support@production

        tailorlm models show 3 --verify --json
    """
    from rich.markup import escape

    from ..registry import gate_results, list_versions, resolve
    from ..registry.health import MISSING, missing_message
    from ..registry.lineage import artifact_hash

    spec, ws = _open(spec_path)
    mv = _call(resolve, ws, ref, default_name=spec.project, include_deleted=True)
    row = next(v for v in list_versions(ws, mv.name, include_deleted=True) if v["version"] == mv.version)
    missing = missing_message(ws, mv) if row["files"] == MISSING else None
    if card:
        path = Path(mv.path) / "MODEL_CARD.md"
        if not path.exists():
            fail(escape(missing or f"{mv.ref}: no model card at {path}."), code=1)
        out.print(path.read_text(encoding="utf-8"), markup=False, highlight=False)
        return
    verified = None
    if verify:
        now = artifact_hash(mv.path)["sha256"] if not missing else None
        verified = {"ok": now is not None and now == mv.lineage.get("artifact", {}).get("sha256"), "sha256": now,
                    "files": row["files"]}
    gates = gate_results(mv)
    if as_json:
        print_json({**row, "gates": gates, "verified": verified})
    else:
        for table in _show_tables(mv, row["aliases"], gates, verified):
            out.print(table)
        if row["deleted_at"]:
            out.print(f"[red]deleted[/] at {_when(row['deleted_at'])} (see 'tailorlm audit log --action delete')")
    if missing:
        console.print(f"[bold red]missing:[/] {escape(missing)}", soft_wrap=True)
    if verified is not None and not verified["ok"]:
        raise typer.Exit(1)


@models_app.command("promote")
def promote_cmd(
    ref: str = RefArgument,
    to: str = typer.Option(..., "--to", help="Alias to move, e.g. staging or production."),
    force: bool = typer.Option(False, "--force", help="Promote despite failing gates (needs --reason; audited)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why the gates are overridden (written to the audit log)."),
    spec_path: Path = SpecOption,
    as_json: bool = JsonOption,
) -> None:
    """Move an alias to a version if its evaluation passed every acceptance criterion.

    Refuses, naming each failing criterion with its value and threshold, unless `--force --reason`.

    Examples:

        tailorlm models promote northwind-support@3 --to production

        tailorlm models promote 3 --to production --force --reason "CRO sign-off, ticket RISK-42"
    """
    from ..registry import promote

    spec, ws = _open(spec_path)
    row = _call(promote, ws, ref, to, force=force, reason=reason, default_name=spec.project)
    if as_json:
        print_json(row)
        return
    d = row["details"]
    note = f" [yellow](forced: {d['reason']})[/]" if d["forced"] else ""
    out.print(f"[green]promoted[/] {row['subject']} to [bold]{d['to']}[/] (was version {d['from_version'] or '-'}){note}")


@models_app.command("alias")
def alias_cmd(
    ref: str = RefArgument,
    alias: str = typer.Argument(..., help="Alias name, e.g. canary (staging/production go through 'promote')."),
    spec_path: Path = SpecOption,
    as_json: bool = JsonOption,
) -> None:
    """Point an (ungated) alias at a version; `NAME@ALIAS` then resolves to it everywhere.

    Example:

        tailorlm models alias northwind-support@4 canary
    """
    from ..registry import set_alias

    spec, ws = _open(spec_path)
    row = _call(set_alias, ws, ref, alias, default_name=spec.project)
    if as_json:
        print_json(row)
        return
    out.print(f"{row['subject']} -> version {row['details']['to']} (was {row['details']['from'] or '-'})")


@models_app.command("delete")
def delete_cmd(
    ref: str = RefArgument,
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (written to the audit log)."),
    force: bool = typer.Option(False, "--force", help="Delete even if it holds staging/production (needs --reason)."),
    purge: bool = typer.Option(False, "--purge", help="Also remove the weight files (erasure requests); card and lineage stay."),
    spec_path: Path = SpecOption,
    as_json: bool = JsonOption,
) -> None:
    """Soft-delete a version: it stops resolving and loses its aliases; the record stays, audited.

    Example:

        tailorlm models delete northwind-support@2 --reason "trained on erased records" --purge
    """
    from ..registry import delete_version

    spec, ws = _open(spec_path)
    row = _call(delete_version, ws, ref, reason=reason, force=force, purge=purge, default_name=spec.project)
    if as_json:
        print_json(row)
        return
    removed = ", ".join(row["details"]["aliases_removed"]) or "none"
    out.print(f"[yellow]deleted[/] {row['subject']} (aliases removed: {removed}; files purged: {'yes' if purge else 'no'})")


@models_app.command("export")
def export_cmd(
    ref: str = RefArgument,
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder to write (replaced atomically)."),
    merge: bool = typer.Option(False, "--merge", help="Merge the adapter into the base weights (plain transformers folder)."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow", help="Log the version to this MLflow tracking URI instead."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out folder that is not a previous "
                               "tailorlm export (never the project, .tailor/ or a data source)."),
    spec_path: Path = SpecOption,
    as_json: bool = JsonOption,
) -> None:
    """Export a version to a folder (adapter, or merged with --merge) or to MLflow; audited.

    An existing --out folder is replaced only when it is a previous tailorlm export (or with --force).

    Examples:

        tailorlm models export northwind-support@production --out dist/model --merge

        tailorlm models export 3 --mlflow sqlite:///mlflow.db
    """
    from ..registry import resolve

    spec, ws = _open(spec_path)
    if (out_dir is None) == (mlflow_uri is None):
        fail("give exactly one destination: --out DIR or --mlflow TRACKING_URI")
    mv = _call(resolve, ws, ref, default_name=spec.project)
    if mlflow_uri:
        from ..registry.mlflow_export import export_to_mlflow

        result = _call(export_to_mlflow, ws, mv, mlflow_uri)
        if as_json:
            print_json(result)
        else:
            out.print(f"logged {mv.ref} to MLflow run {result['mlflow_run_id']} at {mlflow_uri}")
        return
    from ..registry.export import export_version

    if merge and not as_json:
        console.print(f"merging {mv.ref} into its base model...")
    sources = tuple(spec.resolve(s.path) for s in spec.data.sources)
    row = _call(export_version, ws, mv, out_dir, merge=merge, force=force, protect=sources)
    if as_json:
        print_json(row)
    else:
        out.print(f"exported {mv.ref} to {row['details']['out']} (sha256 {row['details']['sha256'][:16]}...)")


def lineage_cmd(
    query: str = typer.Argument(..., help="A source file (as in tailor.yaml, or a path) or a record id."),
    spec_path: Path = SpecOption,
    as_json: bool = JsonOption,
) -> None:
    """List the dataset versions and model versions that contain a source file or record (erasure requests).

    Examples:

        tailorlm lineage data/messages.jsonl

        tailorlm lineage msg-000123 --json
    """
    from ..registry import find_lineage

    spec, ws = _open(spec_path)
    found = find_lineage(ws, query, root=spec.root)
    if as_json:
        print_json(found)
        return
    if not found["datasets"]:
        out.print(f"no dataset version contains {query!r} (looked up as a source path and as a record id).")
        return
    ds = Table(title=f"Dataset versions containing {query}")
    for col in ("dataset version", "records", "splits", "matched by"):
        ds.add_column(col)
    for d in found["datasets"]:
        ds.add_row(d["version"], _fmt(d["records"]), ", ".join(f"{k}: {v}" for k, v in d["splits"].items()) or "-", d["matched_by"])
    out.print(ds)
    mt = Table(title="Model versions trained on them")
    for col in ("model version", "dataset version", "aliases", "status"):
        mt.add_column(col)
    for m in found["models"]:
        mt.add_row(m["ref"], m["dataset_version"], ", ".join(m["aliases"]) or "-", "[red]deleted[/]" if m["deleted"] else "live")
    out.print(mt if found["models"] else "no model version was trained on them.")


def register(app: typer.Typer) -> None:
    """Add ``models`` and ``lineage`` to the root app."""
    app.add_typer(models_app, name="models")
    app.command("lineage")(lineage_cmd)
