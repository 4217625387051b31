"""The documentation site: it builds with `mkdocs build --strict`, its CLI reference covers
every command and option of the app, and every template option is documented."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mlprod_cli.main import app

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "mkdocs.yml"


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once with `mkdocs build --strict`."""
    folder = tmp_path_factory.mktemp("site")
    result = mkdocs_build(CONFIG, folder)
    assert result.returncode == 0, result.stderr
    return folder


def text_of(page: Path) -> str:
    return unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_the_site_builds_strictly_with_a_home_page_and_search(site: Path) -> None:
    home = (site / "index.html").read_text()
    assert "mlprod new" in home
    index = json.loads((site / "search" / "search_index.json").read_text())
    locations = {document["location"] for document in index["docs"]}
    assert {"", "tutorial/", "reference/cli/"} <= locations


def test_a_page_missing_from_the_nav_or_a_broken_link_fails_the_build_naming_it(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "stray.md").write_text(
        "# A page nobody listed\n\n[gone](missing.md), [moved](operations.md#no-such-anchor)\n"
    )
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        f"INHERIT: {CONFIG}\ndocs_dir: {docs}\nhooks: [{ROOT / 'scripts' / 'mkdocs_hooks.py'}]\n"
    )
    result = mkdocs_build(config, tmp_path / "site")
    assert result.returncode != 0
    assert 'not included in the "nav" configuration:\n  - stray.md' in result.stderr
    assert "'stray.md' contains a link 'missing.md', but the target is not found" in result.stderr
    assert "does not contain an anchor '#no-such-anchor'" in result.stderr


def commands_of_help() -> list[str]:
    """The commands `mlprod --help` lists, read from its "Commands:" section."""
    output = CliRunner().invoke(app, ["--help"], prog_name="mlprod").stdout
    section = output.split("Commands:\n", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ")]


def test_the_cli_reference_has_every_command_of_mlprod_help(site: Path) -> None:
    page = (site / "reference" / "cli" / "index.html").read_text()
    commands = commands_of_help()
    assert len(commands) >= 8
    missing = [name for name in commands if f'id="mlprod-{name}"' not in page]
    assert missing == [], f"no entry in the CLI reference for: {missing}"


def test_the_cli_reference_has_every_option_and_default(site: Path) -> None:
    text = " ".join(text_of(site / "reference" / "cli" / "index.html").split())
    sections = re.split(r" mlprod (\w+)¶ ", text)
    by_command = dict(zip(sections[1::2], sections[2::2], strict=True))
    group = typer.main.get_group(app)
    checked = 0
    for name, command in group.commands.items():
        section = by_command[name]
        for parameter in command.params:
            for flag in parameter.opts:
                if flag.startswith("-"):
                    assert flag in section, f"mlprod {name}: {flag} not in the reference"
        help_text = CliRunner().invoke(app, [name, "--help"], prog_name="mlprod").stdout
        for default in re.findall(r"\[default: ([^\]]+)\]", " ".join(help_text.split())):
            assert f"[default: {default}]" in section, f"mlprod {name}: default {default}"
            checked += 1
    assert checked >= 10


def test_every_template_option_is_documented_with_its_choices() -> None:
    options = json.loads((ROOT / "template" / "cookiecutter.json").read_text())
    page = (ROOT / "docs" / "template.md").read_text()
    rows = {
        match.group(1): match.group(0)
        for match in re.finditer(r"^\| `(\w+)` \|.*$", page, flags=re.MULTILINE)
    }
    for key, value in options.items():
        if key.startswith("_"):
            continue
        assert key in rows, f"template option {key} is not in docs/template.md's table"
        for choice in value if isinstance(value, list) else []:
            assert f"`{choice}`" in rows[key], f"{key}={choice} is not in docs/template.md"
