"""The `mlprod` command: wires the commands, and reports a user's mistake, once.

Each command imports what it needs when it runs, so `mlprod --help` stays fast. A
`UserError` raised anywhere below a command is caught here, in the one place the
commands run (the app's group, so Typer's CliRunner sees the same as a terminal):
`mlprod: <message>` on stderr and the error's exit code. `MLPROD_DEBUG=1` lets it
through as a traceback.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlprod_cli import __version__
from mlprod_cli.commands.benchmark import benchmark
from mlprod_cli.commands.bump import bump
from mlprod_cli.commands.check import check
from mlprod_cli.commands.diff import diff
from mlprod_cli.commands.loadtest import loadtest
from mlprod_cli.commands.new import new
from mlprod_cli.commands.package import package
from mlprod_cli.commands.update import update
from mlprod_cli.console import error_line
from mlprod_cli.errors import UserError


class MlprodGroup(TyperGroup):
    """The root group: runs the chosen command and turns a `UserError` into one line."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as error:
            if os.environ.get("MLPROD_DEBUG") == "1":
                raise
            typer.echo(error_line(str(error)), err=True)
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=MlprodGroup,
    name="mlprod",
    help="Take a model from a notebook to a production service.",
    no_args_is_help=True,
    # `--install-completion` / `--show-completion`: Typer imports its completion module with
    # itself, whatever this says, and the completion scripts are made only when asked, so
    # offering them costs `mlprod --help` nothing measurable (benchmarks/startup.py).
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain help: loading Rich for it would triple `mlprod --help` start-up time.
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mlprod {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show mlprod's version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Take a model from a notebook to a production service."""


app.command()(new)
app.command()(bump)
app.command()(check)
app.command()(update)
app.command()(diff)
app.command()(benchmark)
app.command()(loadtest)
app.command()(package)


def run() -> None:
    """Console-script entry point."""
    app()
