"""CLI for the evaluate stage: ``tailorlm eval [--gate]`` and ``tailorlm review export | import``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import SpecOption, console, fail, load, out, print_json, workspace

review_app = typer.Typer(help="Blind human review of base vs fine-tuned answers (CSV + static HTML page).",
                         no_args_is_help=True)


def eval_cmd(
    spec_path: Path = SpecOption,
    gate: bool = typer.Option(False, "--gate", help="Exit with status 1 when the fine-tuned model fails a criterion."),
    limit: Optional[int] = typer.Option(None, "--limit",
                                        help="Evaluate at most N test examples (overrides eval.limit)."),
    json_out: bool = typer.Option(False, "--json", help="Print the EvalResult as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Evaluate base, few-shot, RAG, fine-tuned and fine-tuned+RAG systems on the held-out test split.

    Uses the current dataset version and training run (prepared/trained first when missing, as in
    `tailorlm run`). Writes .tailor/reports/EVAL_ID/: report.html, report.md, report.json,
    predictions.jsonl and plots/.
    """
    from ..pipeline import run_pipeline

    spec = load(spec_path)
    if limit is not None:
        spec.eval.limit = limit
    try:  # data, and train when a fine-tuned system is asked for, first (the stage table's needs)
        result = run_pipeline(spec, workspace(spec), force={"eval"}, progress=not quiet, until="eval").evaluation
    except FileNotFoundError as exc:  # the UserError family is printed by the CLI root (cli/main.py)
        fail(str(exc))
    if json_out:
        print_json(result.to_dict())
    else:
        print_summary(result)
    if gate and not result.passed:
        console.print("[bold red]gate failed:[/] the fine-tuned model does not meet every criterion.")
        raise typer.Exit(1)


def print_summary(result) -> None:
    """A compact table of the headline metrics and the gate verdict."""
    from rich.table import Table

    from ..evaluate.report import fmt, table_metrics

    table = Table(title=f"evaluation {result.eval_id}")
    table.add_column("metric")
    for name in result.systems:
        table.add_column(name, justify="right")
    for m in table_metrics(result.systems):
        table.add_row(m, *(fmt(s.get(m)) for s in result.systems.values()))
    out.print(table)
    for name, gates in result.gates.items():
        failed = [g["criterion"] for g in gates if not g["passed"]]
        verdict = "[green]all criteria pass[/]" if not failed else f"[red]fails[/] {', '.join(failed)}"
        out.print(f"  {name}: {verdict}")
    verdict = "[bold green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
    out.print(f"fine-tuned model {verdict}   report: {result.report_html}")


def _report_dir(spec, eval_id: str | None) -> Path:
    reports = workspace(spec).reports
    if eval_id:
        path = Path(eval_id) if Path(eval_id).is_dir() else reports / eval_id
        if not (path / "predictions.jsonl").exists():
            fail(f"{path}: no evaluation there. List them with 'ls {reports}'.")
        return path
    done = sorted(p for p in reports.iterdir() if (p / "predictions.jsonl").exists())
    if not done:
        fail(f"{reports}: no evaluation yet. Run 'tailorlm eval' first.")
    return done[-1]


@review_app.command("export")
def review_export(
    spec_path: Path = SpecOption,
    eval_id: Optional[str] = typer.Option(None, "--eval", help="Evaluation id or report folder (default: the latest)."),
    sample: Optional[int] = typer.Option(None, "--sample",
                                         help="Pairs to export (default eval.review.sample; 0 = all)."),
    baseline: Optional[str] = typer.Option(None, "--baseline",
                                           help="Baseline system (default eval.review.baseline)."),
    candidate: Optional[str] = typer.Option(None, "--candidate",
                                            help="Candidate system (default eval.review.candidate)."),
) -> None:
    """Export blind answer pairs (order randomized) as review.csv and review.html for a domain expert."""
    from ..errors import UserError
    from ..evaluate.review import export_review

    spec = load(spec_path, check_files=False)
    r = spec.eval.review
    try:
        paths = export_review(_report_dir(spec, eval_id), baseline or r.baseline, candidate or r.candidate,
                              r.sample if sample is None else sample, r.seed)
    except UserError as exc:
        fail(str(exc))
    out.print(f"review page: {paths['html']}\nreview CSV:  {paths['csv']}\n(the A/B key stays in {paths['key']})")


@review_app.command("import")
def review_import(
    csv_path: Path = typer.Argument(..., help="The graded CSV (from review.csv or the page's download button)."),
    spec_path: Path = SpecOption,
    eval_id: Optional[str] = typer.Option(None, "--eval", help="Evaluation id or report folder (default: the latest)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Import expert grades, unblind them and report the fine-tuned model's win rate."""
    from ..errors import UserError
    from ..evaluate.review import import_review

    spec = load(spec_path, check_files=False)
    try:
        res = import_review(_report_dir(spec, eval_id), csv_path)
    except UserError as exc:
        fail(str(exc))
    if json_out:
        print_json(res)
        return
    rate = "n/a" if res["win_rate"] is None else f"{res['win_rate']:.1%}"
    half = "n/a" if res["win_rate_ties_half"] is None else f"{res['win_rate_ties_half']:.1%}"
    out.print(f"{res['candidate']} vs {res['baseline']}: {res['wins']} wins, {res['losses']} losses, {res['ties']} ties "
              f"({res['both_bad']} both bad) of {res['graded']} graded; win rate {rate} (ties as half: {half}); "
              f"{len(res['ungraded'])} ungraded")


def register(app: typer.Typer) -> None:
    """Add ``eval`` and the ``review`` group to the root app."""
    app.command("eval")(eval_cmd)
    app.add_typer(review_app, name="review")
