"""Render a template release with a project's recorded answers, and read trees of files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod_cli.errors import UserError

if TYPE_CHECKING:
    from mlprod_cli.templating.source import TemplateSource


def render(
    source: TemplateSource, recorded: Mapping[str, Any], scratch: Path, version: str
) -> tuple[Path, dict[str, Any]]:
    """`source` rendered into `scratch` with the project's answers; the folder and the answers.

    Answers the template does not ask for are left out; ones it asks for and the
    project never gave take the template's defaults.
    """
    from cookiecutter.exceptions import CookiecutterException

    from mlprod_cli.templating.answers import InvalidAnswer, public_keys
    from mlprod_cli.templating.scaffold import gather_answers, render_tree

    known = set(public_keys(source.context()))
    given = {key: value for key, value in recorded.items() if key in known}
    try:
        answers = gather_answers(source, {}, given, no_input=True)
        scratch.mkdir()
        return render_tree(source, answers, scratch), answers
    except InvalidAnswer as error:
        raise UserError(
            f"the template of mlprod {version} cannot take the project's answers: {error}"
        ) from None
    except CookiecutterException as error:
        raise UserError(
            f"the template of mlprod {version} could not be rendered: {error}"
        ) from None


def files(root: Path) -> set[str]:
    """The regular files under `root`, as POSIX paths relative to it."""
    found: set[str] = set()
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if path.is_file():
                found.add(path.relative_to(root).as_posix())
    return found


def copy_files(root: Path, paths: set[str], destination: Path) -> set[str]:
    """Copy the project's files at `paths` (those it has) into `destination`; the ones copied."""
    copied: set[str] = set()
    for path in paths:
        source = root / path
        if source.is_file():
            target = destination / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied.add(path)
    return copied


def read(path: Path) -> bytes | None:
    """The file's bytes; None when there is no such file."""
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
