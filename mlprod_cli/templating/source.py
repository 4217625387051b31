"""Where the bundled template lives, and how it is staged for cookiecutter.

cookiecutter runs hooks only from `hooks/` beside `cookiecutter.json`. The wheel
lays the template out that way (`mlprod_cli/_template/hooks`); a checkout keeps
`template/` and `hooks/` apart at the top level. Staging copies whichever is
present into one temporary folder, so both render the same way.
"""

from __future__ import annotations

import glob
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
"""`mlprod_cli/`: the wheel puts the template in `mlprod_cli/_template`."""
# Byte code (pip compiles an installed template) and tool caches (a developer running ruff
# or pytest inside template/) must never reach a generated project.
CACHES = ("__pycache__", "*.pyc", "*.pyo", ".ruff_cache", ".pytest_cache", ".mypy_cache")
_IGNORED = shutil.ignore_patterns(*CACHES)


@dataclass(frozen=True)
class TemplateSource:
    """The template's files (holding `cookiecutter.json`) and its hooks folder."""

    root: Path
    hooks: Path

    def context(self) -> dict[str, Any]:
        """The raw `cookiecutter.json` mapping."""
        with (self.root / "cookiecutter.json").open(encoding="utf-8") as handle:
            data: dict[str, Any] = json.load(handle)
        return data

    def choices(self) -> dict[str, list[str]]:
        """Each choice variable with its allowed values."""
        return {
            key: value
            for key, value in self.context().items()
            if not key.startswith("_") and isinstance(value, list)
        }


def is_packaged() -> bool:
    """Whether this mlprod runs from an installed wheel (not from a checkout)."""
    return (_PACKAGE_DIR / "_template" / "cookiecutter.json").is_file()


def bundled_template() -> TemplateSource:
    """The template shipped with this mlprod: packaged in a wheel, or the checkout's."""
    packaged = _PACKAGE_DIR / "_template"
    if (packaged / "cookiecutter.json").is_file():
        return TemplateSource(root=packaged, hooks=packaged / "hooks")
    checkout = _PACKAGE_DIR.parent
    source = TemplateSource(root=checkout / "template", hooks=checkout / "hooks")
    if not (source.root / "cookiecutter.json").is_file():
        raise FileNotFoundError(
            f"mlprod's template is missing: looked in {packaged} and {source.root}"
        )
    return source


def stage(source: TemplateSource, destination: Path) -> Path:
    """Copy the template and its hooks into `destination/template`, ready for cookiecutter."""
    staged = destination / "template"
    shutil.copytree(source.root, staged, ignore=_IGNORED)
    if source.hooks.parent != source.root:
        shutil.copytree(source.hooks, staged / "hooks", ignore=_IGNORED)
    return staged


_JINJA_MARKS = (b"{{", b"{%", b"{#")


def verbatim_files(staged: Path) -> list[str]:
    """The project files in a staged template that hold no template syntax at all.

    Rendering such a file gives it back unchanged, so cookiecutter may copy it
    (`_copy_without_render`) instead of compiling it as a Jinja template: most of the
    template's files, and most of the time `mlprod new` would spend rendering. The paths
    are relative to the project folder, as cookiecutter matches them, with fnmatch's
    special characters escaped.
    """
    (project,) = (path for path in staged.iterdir() if path.is_dir() and "{{" in path.name)
    return sorted(
        glob.escape(str(path.relative_to(project)))
        for path in project.rglob("*")
        if path.is_file() and not any(mark in path.read_bytes() for mark in _JINJA_MARKS)
    )
