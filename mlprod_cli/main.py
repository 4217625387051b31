"""The `mlprod` command: wires the commands, nothing else.

Each command imports what it needs when it runs, so `mlprod --help` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlprod_cli import __version__
from mlprod_cli.commands.benchmark import benchmark
from mlprod_cli.commands.bump import bump
from mlprod_cli.commands.check import check
from mlprod_cli.commands.diff import diff
from mlprod_cli.commands.loadtest import loadtest
from mlprod_cli.commands.new import new
from mlprod_cli.commands.package import package
from mlprod_cli.commands.update import update

app = typer.Typer(
    name="mlprod",
    help="Take a model from a notebook to a production service.",
    no_args_is_help=True,
    add_completion=False,
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
