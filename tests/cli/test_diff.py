"""`mlprod diff`: the project against what the installed template makes with its answers."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from mlprod_cli import __version__
from mlprod_cli.main import app


def diff(runner: CliRunner, project: Path) -> Result:
    return runner.invoke(app, ["diff", "--project", str(project)])


def new_project(runner: CliRunner, output: Path) -> Path:
    result = runner.invoke(app, ["new", "--no-input", "--no-git", "-o", str(output)])
    assert result.exit_code == 0, result.output
    return output / "iris-classifier"


def test_a_fresh_project_matches_its_template(runner: CliRunner, tmp_path: Path) -> None:
    result = diff(runner, new_project(runner, tmp_path))
    assert result.exit_code == 0
    assert result.stdout == (
        f"iris-classifier matches what template {__version__} makes with its answers\n"
    )


def test_the_projects_own_edits_show_as_a_unified_diff(runner: CliRunner, tmp_path: Path) -> None:
    project = new_project(runner, tmp_path)
    readme = project / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    readme.write_text("".join(["# Our own title\n", *lines[1:]]))
    (project / "Dockerfile").unlink()
    (project / "notes.txt").write_text("not the template's: not shown\n")

    result = diff(runner, project)

    assert result.exit_code == 0
    assert result.stdout == (
        "Only in the template: Dockerfile\n"
        "--- template/README.md\n"
        "+++ project/README.md\n"
        "@@ -1,4 +1,4 @@\n"
        f"-{lines[0]}"
        "+# Our own title\n"
        f" {lines[1]} {lines[2]} {lines[3]}"
    )


def test_skipped_files_are_left_out(runner: CliRunner, tmp_path: Path) -> None:
    project = new_project(runner, tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[tool.mlprod.update]\nskip = ["pyproject.toml", "Dockerfile"]\n'
    )
    (project / "Dockerfile").unlink()

    result = diff(runner, project)

    assert result.stdout == (
        f"iris-classifier matches what template {__version__} makes with its answers\n"
    )
