"""CLI commands for the train stage: ``tailorlm train [--resume] [--spec PATH]``."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import SpecOption, console, fail, load, print_json, workspace


def train(
    spec_path: Path = SpecOption,
    resume: bool = typer.Option(False, "--resume", help="Continue the last unfinished run with the same inputs "
                                "from its last checkpoint (same data order, optimizer, scheduler, RNG)."),
    json_out: bool = typer.Option(False, "--json", help="Print the finished run as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Fine-tune the base model on the current dataset version (prepared first if needed).

    Writes .tailor/runs/RUN_ID/: checkpoints/, metrics.jsonl, loss.png, tensorboard/,
    spec.resolved.yaml and model/ (adapter or full weights + tokenizer + provenance.json).
    """
    spec = load(spec_path)
    from ..pipeline import run_pipeline
    from ..train.metrics_writer import TrainingDiverged

    try:  # the data stage first when its inputs changed, then train (one lock over both)
        result = run_pipeline(spec, workspace(spec), force={"train"}, progress=not quiet, until="train", resume=resume)
        dataset, run = result.dataset, result.run
    except TrainingDiverged as exc:
        fail(str(exc), code=1)
    except (ValueError, FileNotFoundError) as exc:  # the UserError family is printed by the CLI root
        fail(str(exc))
    if json_out:
        print_json(run.to_dict())
        return
    m = run.metrics
    console.print(f"[bold green]trained[/] run {run.run_id} ({run.method}) on dataset {dataset.name}@{dataset.version}")
    console.print(f"  steps {m['steps']}, train loss {m['train_loss']:.4f}, validation loss "
                  f"{m['eval_loss'] if m['eval_loss'] is None else round(m['eval_loss'], 4)}, "
                  f"{m['tokens_per_second']:.0f} tokens/s, {m['wall_seconds']:.0f} s")
    if m.get("resumed_from_step") is not None:
        console.print(f"  resumed from the checkpoint at step {m['resumed_from_step']}")
    console.print(f"  model: {run.model_path}\n  loss curve: {Path(run.path) / 'loss.png'}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("train")(train)
