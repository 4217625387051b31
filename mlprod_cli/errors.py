"""One way to fail: a user's mistake is one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    """A mistake the user can fix: reported as one line, never as a traceback."""

    exit_code = 1


@contextmanager
def reported() -> Iterator[None]:
    """Turn a `UserError` raised inside the block into `mlprod: <message>` and an exit code.

    Set `MLPROD_DEBUG=1` to get the traceback instead.
    """
    import typer  # here, not at the top: the template's hooks import this module too

    try:
        yield
    except UserError as error:
        if os.environ.get("MLPROD_DEBUG") == "1":
            raise
        typer.echo(f"mlprod: {error}", err=True)
        raise typer.Exit(error.exit_code) from None
