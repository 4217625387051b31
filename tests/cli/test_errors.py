"""One way to fail, for every command: `mlprod: <message>` on stderr, one line, exit code 1.

The commands only raise `UserError`; `mlprod_cli.main` catches it, once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlprod_cli.main import app

COMMANDS = ["bump patch", "check", "diff", "update", "benchmark", "loadtest", "package"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_project_folder_is_one_line_for_every_command(
    command: str, runner: CliRunner, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere"
    result = runner.invoke(app, [*command.split(), "--project", str(missing)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"mlprod: --project {missing} does not exist\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_that_is_no_project_is_one_line_for_every_command(
    command: str, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, command.split())
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"mlprod: no mlprod project here or above {tmp_path.resolve()}; "
        "run inside a project made by `mlprod new` or pass --project\n"
    )


def test_new_reports_a_bad_answer_in_the_same_format(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", "--no-input", "-o", str(tmp_path), "--set", "nokey"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "mlprod: --set expects KEY=VALUE, got 'nokey'\n"
    assert list(tmp_path.iterdir()) == []


def test_debug_lets_the_error_through_as_a_traceback(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLPROD_DEBUG", "1")
    result = runner.invoke(app, ["check", "--project", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "NotAProject"
    assert result.stderr == ""


def test_no_command_catches_user_errors_itself() -> None:
    commands = Path(__file__).parents[2] / "mlprod_cli" / "commands"
    catching = [
        path.name
        for path in sorted(commands.glob("*.py"))
        if "except UserError" in path.read_text() or "reported()" in path.read_text()
    ]
    assert catching == []
