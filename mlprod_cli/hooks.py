"""The logic of the template's hooks, importable so that it is tested like any module.

The hook scripts in `hooks/` only call these functions: the pre-generation hook
validates the answers, the post-generation hook prunes what must not ship. No
network, no virtual environments, no `git init` here: `mlprod update` re-renders
the template, and must not repeat such work.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from mlprod_cli.templating.answers import InvalidAnswer, validate
from mlprod_cli.templating.source import bundled_template

_CACHE_DIRS = ("__pycache__",)
VARIANTS_DIR = "_variants"
VARIANT_KEYS = ("task", "framework")
"""The answers that choose whole files, in the order their variants are laid down."""
_CACHE_SUFFIXES = (".pyc", ".pyo")


def pre_generate(context: Mapping[str, Any], stderr: TextIO = sys.stderr) -> int:
    """Validate the rendered answers; print one line and return 1 when one is wrong."""
    try:
        validate(context, bundled_template().choices())
    except InvalidAnswer as error:
        print(f"mlprod: {error}", file=stderr)
        return 1
    return 0


def post_generate(project_dir: Path, context: Mapping[str, Any] | None = None) -> int:
    """Put the chosen variants' files in place, then remove byte-code caches that an
    installed template may carry into the project."""
    apply_variants(project_dir, context or {})
    for path in sorted(project_dir.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _CACHE_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in _CACHE_SUFFIXES:
            path.unlink()
    return 0


def apply_variants(project_dir: Path, context: Mapping[str, Any]) -> list[str]:
    """Move the files of each chosen variant into the project; drop every other variant.

    Files that differ by an answer are whole files in `_variants/<key>-<value>/`, laid out
    as in the project (e.g. `_variants/task-regression/data/diabetes.csv`), rather than
    `{% if %}` blocks. Files that differ by two answers together sit in a folder naming
    both, joined by `+` in `VARIANT_KEYS` order (e.g.
    `_variants/task-regression+framework-xgboost/`). Every folder whose answers all match
    is merged into the project: single answers first, in `VARIANT_KEYS` order, then
    combined ones, so the more specific file wins. The folder is then removed. Returns
    the variants applied, in the order they were laid down.
    """
    variants = project_dir / VARIANTS_DIR
    if not variants.is_dir():
        return []
    chosen = []
    for folder in variants.iterdir():
        conditions = variant_conditions(folder.name)
        if folder.is_dir() and all(
            str(context.get(key)) == value for key, value in conditions.items()
        ):
            order = tuple(VARIANT_KEYS.index(key) for key in conditions)
            chosen.append(((len(conditions), order), folder))
    applied = []
    for _, folder in sorted(chosen):
        shutil.copytree(folder, project_dir, dirs_exist_ok=True)
        applied.append(folder.name)
    shutil.rmtree(variants)
    return applied


def variant_conditions(name: str) -> dict[str, str]:
    """The answers a variant folder's name asks for: `task-regression+framework-xgboost`
    gives ``{"task": "regression", "framework": "xgboost"}``. A name with a key outside
    `VARIANT_KEYS` raises ValueError: a misspelt folder must not be dropped silently."""
    conditions = {}
    for part in name.split("+"):
        key, _, value = part.partition("-")
        if key not in VARIANT_KEYS or not value:
            raise ValueError(
                f"{VARIANTS_DIR}/{name}: {part!r} is not <answer>-<value> of "
                f"one of {', '.join(VARIANT_KEYS)}"
            )
        conditions[key] = value
    return conditions
