"""Options that several commands share, declared once, and the way every option is made."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def option(*names: str, help: str, metavar: str | None = None, **extra: Any) -> Any:
    """A Typer option whose default, when it matters, is written in its help text."""
    return typer.Option(*names, help=help, metavar=metavar, show_default=False, **extra)


ProjectOption = Annotated[
    Path | None,
    option(
        "--project",
        help="The project's folder (default: the nearest one holding the current folder).",
    ),
]
"""Resolved by `mlprod_cli.project.resolve_project`."""

PythonOption = Annotated[
    Path | None,
    option(
        "--python",
        help="The interpreter of an environment the project is installed in, with its dev "
        "extra (default: the project's .venv).",
    ),
]
"""Resolved by `mlprod_cli.project.project_python`."""

JsonFlag = Annotated[bool, option("--json", help="Print one JSON document instead of text.")]
DryRunFlag = Annotated[bool, option("--dry-run", help="Say what would change, and change nothing.")]
