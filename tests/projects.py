"""Generated projects for the gates tier: made by `mlprod new` the way a user makes one."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mlprod_cli.main import app

NAME = "Credit Risk Scorer"
SLUG = "credit-risk-scorer"


def new_project(output: Path, name: str = NAME) -> Path:
    """`mlprod new --no-input --set project_name=NAME -o OUTPUT`; the project's folder."""
    result = CliRunner().invoke(
        app, ["new", "--no-input", "-o", str(output), "--set", f"project_name={name}"]
    )
    assert result.exit_code == 0, result.output
    return output / SLUG
