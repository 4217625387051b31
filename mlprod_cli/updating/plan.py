"""Plan an update into a project: render the old and the new template, merge.

`.mlprod.json` says which template version and which answers made the project. The
template is rendered as it was then (the base) and as it is now (theirs), with those
answers, and every file is merged three ways with the project's own (ours): the
project's edits stay, the template's changes arrive, and where both changed the same
lines the file gets conflict markers. The new version is recorded only when nothing
conflicts; otherwise `.mlprod.json` keeps the old one and notes the pending update,
which the next `mlprod update` records once the markers are gone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mlprod_cli.errors import UserError
from mlprod_cli.templating.provenance import FILENAME, PendingUpdate, Provenance
from mlprod_cli.updating.merge import is_binary, merge
from mlprod_cli.updating.migrations import Migration, between, migrate_answers, migrate_files
from mlprod_cli.updating.render import copy_files, files, read, render
from mlprod_cli.updating.versions import installed_version, version

if TYPE_CHECKING:
    from mlprod_cli.templating.store import TemplateStore

EXIT_CONFLICTS = 4
"""`mlprod update`: files were left with conflicts; the new version is not recorded."""


class Conflicts(UserError):
    """An update that left (or would leave) files with conflicts."""

    exit_code = EXIT_CONFLICTS


class Action(str, Enum):
    """What an update does to one file."""

    ADDED = "added"
    UPDATED = "updated"
    MERGED = "merged"
    DELETED = "deleted"
    CONFLICT = "conflict"
    KEPT_DELETED = "kept deleted"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Change:
    """One file's part in an update. `content` is what the file becomes, when it is written."""

    path: str
    action: Action
    content: bytes | None = None
    mode: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Plan:
    """Everything an update will do, worked out before anything is written."""

    root: Path
    old: str
    new: str
    answers: dict[str, Any]
    """The public answers the new template was rendered with, to record."""
    changes: tuple[Change, ...]
    migrations: tuple[Migration, ...]

    @property
    def conflicts(self) -> list[str]:
        return [change.path for change in self.changes if change.action is Action.CONFLICT]

    def provenance(self, previous: Provenance, mlprod_version: str) -> Provenance:
        """`.mlprod.json` after the update: the new version, or the old one and what is pending."""
        if self.conflicts:
            pending = PendingUpdate(self.new, dict(self.answers), self.conflicts)
            return replace(previous, pending_update=pending)
        return Provenance(
            mlprod_version=mlprod_version, template_version=self.new, answers=dict(self.answers)
        )


def skipped_by(path: str, patterns: Sequence[str]) -> str | None:
    """The pattern that matches `path` or one of its folders, if any."""
    candidates = [path, *(str(parent) for parent in PurePosixPath(path).parents)][:-1]
    for pattern in patterns:
        cleaned = pattern.strip("/")
        if any(fnmatchcase(candidate, cleaned) for candidate in candidates):
            return pattern
    return None


def plan_update(
    root: Path,
    provenance: Provenance,
    target: str,
    store: TemplateStore,
    migrations: Sequence[Migration],
    skip: Sequence[str],
) -> Plan:
    """Work out the update of the project at `root` to template `target`; write nothing."""
    old = provenance.template_version
    steps = between(old, target, migrations)
    with tempfile.TemporaryDirectory(prefix="mlprod-update-") as scratch_name:
        scratch = Path(scratch_name)
        base, old_answers = render(store.get(old), provenance.answers, scratch / "base", old)
        new_given = migrate_answers(provenance.answers, steps)
        theirs, new_answers = render(store.get(target), new_given, scratch / "theirs", target)
        ours = scratch / "ours"
        copied = copy_files(root, files(base) | files(theirs), ours)
        migrate_files(base, old_answers, steps)
        migrate_files(ours, old_answers, steps)
        labels = ("yours", f"template {old}", f"template {target}")
        paths = sorted(files(base) | files(theirs) | files(ours) | copied)
        changes = [
            change
            for path in paths
            if (change := _decide(path, root, base, ours, theirs, labels, skip)) is not None
        ]
    from mlprod_cli.templating.answers import public_keys

    return Plan(
        root=root,
        old=old,
        new=target,
        answers={key: new_answers[key] for key in public_keys(new_answers)},
        changes=tuple(changes),
        migrations=tuple(steps),
    )


def template_diff(
    root: Path,
    provenance: Provenance,
    store: TemplateStore,
    migrations: Sequence[Migration],
    skip: Sequence[str],
) -> list[str]:
    """How the project differs from what the installed template makes with its answers.

    Unified diffs from the template's file (`template/<path>`) to the project's
    (`project/<path>`); files the project deleted or that are binary get one line each.
    Files matching `skip` are left out.
    """
    import difflib

    installed = installed_version()
    answers = provenance.answers
    if version(provenance.template_version, f"{FILENAME} template_version") < version(
        installed, ""
    ):
        answers = migrate_answers(
            answers, between(provenance.template_version, installed, migrations)
        )
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mlprod-diff-") as scratch_name:
        rendered, _ = render(store.get(installed), answers, Path(scratch_name) / "t", installed)
        for path in sorted(files(rendered)):
            if skipped_by(path, skip):
                continue
            template = (rendered / path).read_bytes()
            mine = read(root / path)
            if mine is None:
                lines.append(f"Only in the template: {path}")
            elif mine == template:
                continue
            elif is_binary(mine) or is_binary(template):
                lines.append(f"Binary files template/{path} and project/{path} differ")
            else:
                lines.extend(
                    line.rstrip("\n")
                    for line in difflib.unified_diff(
                        template.decode(errors="replace").splitlines(keepends=True),
                        mine.decode(errors="replace").splitlines(keepends=True),
                        fromfile=f"template/{path}",
                        tofile=f"project/{path}",
                    )
                )
    return lines


def _decide(
    path: str,
    root: Path,
    base: Path,
    ours: Path,
    theirs: Path,
    labels: tuple[str, str, str],
    skip: Sequence[str],
) -> Change | None:
    """What the update does to `path`; None when nothing happens to it."""
    b, o, n = read(base / path), read(ours / path), read(theirs / path)
    target = root / path
    pattern = skipped_by(path, skip)
    if pattern is not None:
        if b == n:
            return None
        return Change(path, Action.SKIPPED, note=f'matches skip pattern "{pattern}"')
    if target.exists() and not target.is_file():
        if b == n:
            return None
        return Change(path, Action.CONFLICT, note="not a file in the project; left as it is")
    if o == n or b == n:
        result = o
    elif b == o:
        result = n
    elif o is None:
        return Change(path, Action.KEPT_DELETED, note="you deleted it; the template changed it")
    elif n is None:
        return Change(path, Action.CONFLICT, note="the template deleted it; you changed it")
    elif is_binary(o) or is_binary(n) or (b is not None and is_binary(b)):
        return Change(path, Action.CONFLICT, note="a binary file both changed; yours is kept")
    else:
        merged = merge(b or b"", o, n, labels)
        if merged.conflicts:
            return Change(path, Action.CONFLICT, merged.content, note="both changed the same lines")
        result = merged.content
    return _change(path, read(target), result, n, theirs)


def _change(
    path: str, current: bytes | None, result: bytes | None, theirs: bytes | None, tree: Path
) -> Change | None:
    """The change that turns the project's `current` file into `result`."""
    if result == current:
        return None
    if result is None:
        return Change(path, Action.DELETED)
    if current is None:
        mode = (tree / path).stat().st_mode & 0o777 if theirs is not None else None
        return Change(path, Action.ADDED, result, mode)
    return Change(path, Action.UPDATED if result == theirs else Action.MERGED, result)
