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
    `{% if %}` blocks. The variants of the answers given are merged into the project in
    `VARIANT_KEYS` order; the folder is then removed. Returns the variants applied.
    """
    variants = project_dir / VARIANTS_DIR
    if not variants.is_dir():
        return []
    applied = []
    for key in VARIANT_KEYS:
        if key not in context:
            continue
        chosen = variants / f"{key}-{context[key]}"
        if chosen.is_dir():
            shutil.copytree(chosen, project_dir, dirs_exist_ok=True)
            applied.append(chosen.name)
    shutil.rmtree(variants)
    return applied
