"""`mlprod` itself: version, help, and the installed console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mlprod_cli import __version__
from mlprod_cli.main import app

COMMANDS = ["new", "bump", "benchmark", "check", "update", "diff", "loadtest", "package"]


def test_version_prints_the_package_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"mlprod {__version__}\n"


def test_no_arguments_shows_help_listing_every_command(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "Usage: mlprod" in result.output
    for command in COMMANDS:
        assert f"  {command} " in result.output


def test_every_command_has_help(runner: CliRunner) -> None:
    for command in COMMANDS:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, command
        assert f"Usage: mlprod {command}" in result.stdout


def test_installed_console_script_runs() -> None:
    script = Path(sys.executable).parent / "mlprod"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"mlprod {__version__}"
