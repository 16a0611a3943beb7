"""``tailorlm data``: prepare a dataset version, show its card, preview samples, scan files for PII."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .common import SpecOption, console, fail, load, out, workspace

app = typer.Typer(help="Curate raw data into a versioned, PII-scrubbed, deduplicated dataset with a card.",
                  no_args_is_help=True)


@app.command("prepare")
def prepare(
    spec_path: Path = SpecOption,
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print the DatasetVersion as JSON."),
) -> None:
    """Ingest, validate, clean, scrub PII, deduplicate, filter and split `data.sources` into a version."""
    from ..data.errors import DataError
    from ..pipeline import run_pipeline

    spec = load(spec_path)
    try:
        # The pipeline's data stage: the same version, stage cache entry and audit record as `run`.
        dv = run_pipeline(spec, workspace(spec), force={"data"}, progress=not no_progress, until="data").dataset
    except DataError as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(dv.to_dict(), indent=2, default=str) + "\n")
        return
    c = dv.counts
    out.print(f"[bold]dataset {dv.name} @ {dv.version}[/]  {dv.path}", soft_wrap=True)
    out.print(f"  {c['records_in']} in -> {c['kept']} kept  (quarantined {c['quarantined']}, duplicates "
              f"{c['duplicates']}: exact {c['duplicates_exact']}, near {c['duplicates_near']}"
              + (f", copies of test records {c['duplicates_test_overlap']}" if c.get("duplicates_test_overlap") else "")
              + f"; filtered {c['filtered']})",
              markup=False)
    out.print("  splits: " + ", ".join(f"{k} {v}" for k, v in c["splits"].items()))
    if c.get("pii"):
        out.print("  PII replaced in kept records: " + ", ".join(f"{k} {v}" for k, v in c["pii"].items()),
                  markup=False, soft_wrap=True)
    out.print(f"  card: {Path(dv.path) / 'card.md'}", markup=False, soft_wrap=True)
    out.print(f"  quarantine: {Path(dv.path) / 'quarantine.jsonl'}", markup=False, soft_wrap=True)


@app.command("card")
def card(
    spec_path: Path = SpecOption,
    version: Optional[str] = typer.Option(None, "--version", help="Dataset version (default: the latest)."),
) -> None:
    """Print the dataset card (Markdown) of a prepared version."""
    from ..data.errors import DataError
    from ..data.preview import version_dir

    spec = load(spec_path)
    try:
        path = version_dir(workspace(spec), spec.project, version)
    except DataError as exc:
        fail(str(exc))
    sys.stdout.write((path / "card.md").read_text(encoding="utf-8"))


@app.command("preview")
def preview_cmd(
    spec_path: Path = SpecOption,
    n: int = typer.Option(3, "-n", min=1, help="Number of samples."),
    split: str = typer.Option("train", "--split", help="train, validation or test."),
    version: Optional[str] = typer.Option(None, "--version", help="Dataset version (default: the latest)."),
) -> None:
    """Show tokenized samples; highlighted tokens carry the training loss (what the model learns)."""
    from ..data.errors import DataError
    from ..data.preview import preview, render_sample

    spec = load(spec_path)
    try:
        samples = preview(workspace(spec), spec, n=n, split=split, version=version)
    except DataError as exc:
        fail(str(exc))
    for s in samples:
        out.rule(f"{s['id']}  ({s['n_tokens']} tokens, {s['n_loss_tokens']} with loss)")
        out.print(render_sample(s["tokens"]))
    out.print("[dim]dim: no loss (prompt, template)[/]  [bold green on grey15]highlighted: loss[/]")


@app.command("scan-pii")
def scan_pii(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL, JSON, CSV/TSV or Parquet file."),
    field: str = typer.Option("text", "--field", help="The field holding the text to scan."),
    id_field: str = typer.Option("id", "--id-field", help="The record id field (else the line number)."),
    redact: Optional[Path] = typer.Option(
        None, "--redact", help="Also write the file with PII replaced here (JSONL); it appears only once the whole "
        "file is scanned (temp file + rename)."),
    spec_path: Optional[Path] = typer.Option(None, "--spec", "-s", help="Use data.pii from this tailor.yaml."),
) -> None:
    """Print detected PII spans as JSONL (id, start, end, entity_type, score); --redact writes a scrubbed copy.

    The file is checked first: if any record has no text in --field (or cannot be read), nothing is
    printed or written and the error names each such record's line and id, so no record is lost.
    """
    from ..data.errors import DataError
    from ..data.scan import scan_file
    from ..spec.data import PIISpec

    pii = load(spec_path).data.pii if spec_path else PIISpec()
    try:
        n_records, n_spans = scan_file(file, field, id_field, pii, sys.stdout, redact)
    except DataError as exc:
        fail(str(exc))
    console.print(f"{n_spans} PII span(s) in {n_records} record(s)" + (f"; redacted copy: {redact}" if redact else ""))


def register(root: typer.Typer) -> None:
    """Add the ``data`` command group to the root app."""
    root.add_typer(app, name="data")
