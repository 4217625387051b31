"""Template changes that a file merge cannot carry: a renamed setting, a moved file.

`mlprod update` merges the project's files with the template's, file by file, path by
path. When a template release moves a file, the merge would see one file deleted and
another added, and the project's edits to the old one would be left behind. A
migration says what changed, and `update` runs it, in version order, for every
release after the project's template up to the one it updates to:

- `files(tree, answers)` changes a tree of files in place. It runs on the old template
  as rendered and on (a scratch copy of) the project's files at the template's paths,
  so the three-way merge then compares like with like: the moved file is merged at its
  new place, with the project's edits. It must accept files that are missing, since a
  project may have deleted them. `answers` are the project's complete answers, derived
  names (`__package_name`) included.
- `answers(answers)` returns the answers renamed or re-valued for the new template.

A release that needs one adds a module here (`v0_3_0.py`) with a typed function and
lists a `Migration` for it in `BUNDLED`:

    def move_uwsgi_ini(tree: Path, answers: Mapping[str, Any]) -> None:
        old, new = tree / "uwsgi.ini", tree / "deploy" / "uwsgi.ini"
        if old.is_file():
            new.parent.mkdir(exist_ok=True)
            old.rename(new)

    BUNDLED = (Migration("0.3.0", "uwsgi.ini moved to deploy/", files=move_uwsgi_ini),)

No release has needed one yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FilesStep = Callable[[Path, Mapping[str, Any]], None]
AnswersStep = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Migration:
    """One step of an update beyond the merge, keyed by the template version it upgrades to."""

    version: str
    summary: str
    """One line, printed when the migration runs."""
    files: FilesStep | None = None
    answers: AnswersStep | None = None


BUNDLED: tuple[Migration, ...] = ()


def between(old: str, new: str, migrations: Sequence[Migration]) -> list[Migration]:
    """The migrations with `old < version <= new`, in version order (ties keep their order)."""
    from packaging.version import Version

    low, high = Version(old), Version(new)
    chosen = [step for step in migrations if low < Version(step.version) <= high]
    return sorted(chosen, key=lambda step: Version(step.version))


def migrate_answers(answers: Mapping[str, Any], steps: Sequence[Migration]) -> dict[str, Any]:
    """`answers` as each step, in order, renames or re-values them."""
    migrated = dict(answers)
    for step in steps:
        if step.answers is not None:
            migrated = step.answers(migrated)
    return migrated


def migrate_files(tree: Path, answers: Mapping[str, Any], steps: Sequence[Migration]) -> None:
    """Run each step's file change, in order, on `tree`."""
    for step in steps:
        if step.files is not None:
            step.files(tree, answers)
