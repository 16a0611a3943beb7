"""Root of the ``tailorlm`` command line.

Every command group lives in its own module and adds itself through ``register(app)``.
"""

from __future__ import annotations

import logging
import os

# Before torch is imported: idle OpenMP threads sleep instead of spinning. On a shared 2-core box a
# spinning pool starves other processes (a batch-32 forward took 1.84 s spinning vs 0.14 s passive).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import errno  # noqa: E402

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from .. import __version__  # noqa: E402
from ..errors import UserError  # noqa: E402
from . import audit, data, eval, models, project, train

# Nothing reaches for the network at run time: hub lookups are off unless the user opts in.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")



class _Root(TyperGroup):
    """The root command: every user mistake (the :class:`UserError` family) is printed here, once.

    A message, no traceback, and the error's documented exit status (``tailorlm.errors.EXIT_CODES``).
    A full disk is reported the same way: it is something the user fixes, not a bug.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; nothing half-written was kept (outputs appear only when complete). Run the command "
                  "again to continue (train: add --resume).", 130)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) and "No space left" not in str(exc):
                raise
            _fail(f"no space left on the device while writing {exc.filename or 'an output'}. Nothing half-written "
                  "was kept (outputs appear only when complete); free some space and rerun the command.", 2)


def _fail(message: str, code: int):
    from rich.markup import escape

    from .common import console

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


app = typer.Typer(
    cls=_Root,
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
