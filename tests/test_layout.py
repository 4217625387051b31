"""The layout the design describes: a small top level, thin commands, one home per idea."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "mlprod_cli"
TOP_LEVEL = {"__init__.py", "__main__.py", "main.py", "errors.py", "console.py", "vcs.py"}
HOOKS_API = "hooks.py"
"""The template's hook scripts, of every release `mlprod update` renders, import
`mlprod_cli.hooks`: its path is their interface, so it stays at the top level."""
PACKAGES = {
    "benchmarking",
    "commands",
    "loadtest",
    "project",
    "release",
    "templating",
    "updating",
}
MAX_COMMAND_LINES = 120


def test_the_top_level_holds_the_entry_point_errors_console_vcs_and_packages() -> None:
    modules = {path.name for path in PACKAGE.glob("*.py")}
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert modules == TOP_LEVEL | {HOOKS_API}
    assert folders == PACKAGES


@pytest.mark.parametrize(
    "module", sorted(path.name for path in (PACKAGE / "commands").glob("*.py")), ids=str
)
def test_every_command_module_is_short(module: str) -> None:
    lines = (PACKAGE / "commands" / module).read_text().count("\n")
    assert lines < MAX_COMMAND_LINES, f"commands/{module}: {lines} lines; move work into a package"


@pytest.mark.parametrize(
    ("definition", "home"),
    [
        ("class TrainedModel", "project/models.py"),
        ("def read_rows", "project/data.py"),
        ("def format_size", "console.py"),
        ("def resolve_project", "project/config.py"),
        ("def project_python", "project/config.py"),
    ],
)
def test_each_idea_has_one_home(definition: str, home: str) -> None:
    found = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if f"\n{definition}" in path.read_text()
    ]
    assert found == [home]
