"""Options that several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project",
        help="The project's folder (default: the nearest one holding the current folder).",
        show_default=False,
    ),
]
