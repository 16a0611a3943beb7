"""Project-level commands: ``init``, ``run`` and ``spec check | schema``."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..systems import CANDIDATE
from .common import SpecOption, console, fail, load, out, print_json

TEMPLATES = ("support",)

spec_app = typer.Typer(help="Validate tailor.yaml or print its JSON schema.", no_args_is_help=True)


def init(
    directory: Path = typer.Argument(..., help="Folder to create (must be empty or absent)."),
    template: str = typer.Option("support", "--template", "-t", help=f"Example project: {', '.join(TEMPLATES)}."),
    messages: int = typer.Option(2400, min=200, help="How many example messages to generate (at least 200)."),
) -> None:
    """Create a project: a tailor.yaml and an example dataset.

    Example:

        tailorlm init my-project --template support && cd my-project && tailorlm run
    """
    if template not in TEMPLATES:
        fail(f"unknown template '{template}'. Available: {', '.join(TEMPLATES)}.")
    if directory.exists() and any(directory.iterdir()):
        fail(f"{directory} is not empty; pick a new folder (nothing was written).")
    from ..templates.support.generate import write_corpus

    existed = directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        src = Path(__file__).resolve().parent.parent / "templates" / template / "tailor.yaml"
        planted = write_corpus(directory, n_messages=messages)
        shutil.copyfile(src, directory / "tailor.yaml")  # last: a folder with tailor.yaml is a whole project
    except BaseException:
        # Half a project would make the next `init` refuse the folder: take back what was written.
        if existed:
            for p in directory.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        else:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    console.print(
        f"[green]Created[/] {directory}/tailor.yaml and {directory}/data/messages.jsonl "
        f"({planted.get('n_lines', messages)} lines, with planted PII, duplicates and malformed rows).\n"
        f"Next: cd {directory} && tailorlm run"
    )


def _summary_table(summary: dict) -> Table:
    table = Table(title="Evaluation on the held-out test split", show_lines=False)
    systems = list(summary["metrics"])
    keys = ["accuracy", "macro_f1", "hallucination_rate", "p95_latency_ms", "mean_prompt_tokens"]
    table.add_column("metric")
    for s in systems:
        table.add_column(s, justify="right")
    for k in keys:
        if any(k in summary["metrics"][s] for s in systems):
            row = [k]
            for s in systems:
                v = summary["metrics"][s].get(k)
                row.append("-" if v is None else (f"{v:.3f}" if isinstance(v, float) and v < 10 else f"{v:.0f}"))
            table.add_row(*row)
    return table


def _gates_table(summary: dict) -> Table:
    table = Table(title="Acceptance criteria (fine-tuned model)")
    table.add_column("criterion")
    table.add_column("value", justify="right")
    table.add_column("result")
    for g in summary["criteria"].get(CANDIDATE, []):
        v = g.get("value")
        table.add_row(g["criterion"], "-" if v is None else f"{v:.3f}", "[green]pass[/]" if g["passed"] else "[red]FAIL[/]")
    return table


def run(
    spec_path: Path = SpecOption,
    force: Optional[list[str]] = typer.Option(
        None, "--force", "-f", help="Rerun STAGE (data, train, eval, register or all) and everything after it."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
) -> None:
    """Run the whole job: data prepare → train → evaluate → register → report.

    Stages whose inputs (content hashes) did not change are skipped, so a second run is cheap.

    Examples:

        tailorlm run

        tailorlm run --force train --json
    """
    from ..pipeline import STAGES, run_pipeline

    t0 = time.perf_counter()
    spec = load(spec_path)
    bad = [f for f in force or [] if f not in (*STAGES, "all")]
    if bad:
        fail(f"--force {bad[0]}: unknown stage. Choose from: {', '.join(STAGES)}, all.")
    from .common import workspace

    ws = workspace(spec)

    def on_stage(name: str) -> None:
        if not as_json:
            console.print(f"[bold cyan]▶ {name}[/]  ({time.perf_counter() - t0:.0f}s)")

    # A stage's UserError (bad data, a busy project, ...) is printed by the CLI root (cli/main.py).
    result = run_pipeline(spec, ws, force=set(force or []), progress=True, on_stage=on_stage)
    summary = result.summary()
    if as_json:
        print_json(summary)
        return
    out.print(_summary_table(summary))
    out.print(_gates_table(summary))
    ran = ", ".join(summary["stages"]["ran"]) or "none"
    skipped = ", ".join(summary["stages"]["skipped"]) or "none"
    out.print(f"stages run: {ran}; skipped (inputs unchanged): {skipped}")
    verdict = "[green]passes[/]" if summary["passed"] else "[red]does not pass[/]"
    out.print(f"model version [bold]{summary['model_version']}[/] {verdict} its acceptance criteria.")
    out.print(f"report: {summary['report']}")
    out.print(f"total: {summary['total_seconds']:.1f}s")


@spec_app.command("check")
def spec_check(spec_path: Path = SpecOption) -> None:
    """Validate tailor.yaml (keys, types, files, option compatibility) without loading a model.

    Example:

        tailorlm spec check --spec my-project/tailor.yaml
    """
    spec = load(spec_path)
    out.print(f"[green]ok[/] {spec_path}: project '{spec.project}', task {spec.objective.task}, "
              f"{len(spec.data.sources)} source(s), method {spec.train.method}, "
              f"{len(spec.objective.criteria)} criteria.")


@spec_app.command("schema")
def spec_schema() -> None:
    """Print the JSON schema of tailor.yaml (for editors and CI validation).

    Example:

        tailorlm spec schema > tailor.schema.json
    """
    from ..spec import TailorSpec

    print(json.dumps(TailorSpec.model_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("run")(run)
    app.add_typer(spec_app, name="spec")
