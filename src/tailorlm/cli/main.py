"""Root of the ``tailorlm`` command line.

Every command group lives in its own module and adds itself through ``register(app)``.
"""

from __future__ import annotations

import logging
import os

# Before torch is imported: idle OpenMP threads sleep instead of spinning. On a shared 2-core box a
# spinning pool starves other processes (a batch-32 forward took 1.84 s spinning vs 0.14 s passive).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import typer  # noqa: E402

from .. import __version__  # noqa: E402
from . import audit, data, eval, models, project, train

# Nothing reaches for the network at run time: hub lookups are off unless the user opts in.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(
    name="tailorlm",
    help=(
        "Turn a general pretrained LLM into a governed specialist for your domain, on your own machines.\n\n"
        "Quick start:\n\n"
        "  tailorlm init my-project --template support\n\n"
        "  cd my-project && tailorlm run\n\n"
        "Stage by stage: tailorlm data prepare | tailorlm train | tailorlm eval | tailorlm models list"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tailorlm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details."),
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


for module in (project, data, train, eval, models, audit):
    module.register(app)

from . import serve as serve_cli  # noqa: E402  (serve, keys, chat)

serve_cli.register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
