"""Bring template changes into a project: render the old and the new template, merge.

`.mlprod.json` says which template version and which answers made the project. The
template is rendered as it was then (the base) and as it is now (theirs), with those
answers, and every file is merged three ways with the project's own (ours): the
project's edits stay, the template's changes arrive, and where both changed the same
lines the file gets conflict markers. The new version is recorded only when nothing
conflicts; otherwise `.mlprod.json` keeps the old one and notes the pending update,
which the next `mlprod update` records once the markers are gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mlprod_cli.errors import UserError
from mlprod_cli.merge import has_conflict_markers, is_binary, merge
from mlprod_cli.migrations import Migration, between, migrate_answers, migrate_files
from mlprod_cli.provenance import FILENAME, PendingUpdate, Provenance

if TYPE_CHECKING:
    from packaging.version import Version

    from mlprod_cli.template import TemplateSource
    from mlprod_cli.template_store import TemplateStore

EXIT_BEHIND = 3
"""`mlprod check`: the project's template is older than the installed mlprod's."""
EXIT_CONFLICTS = 4
"""`mlprod update`: files were left with conflicts; the new version is not recorded."""

_SHOWN = 3


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


@dataclass(frozen=True)
class Status:
    """Where a project's template stands against the installed mlprod's."""

    recorded: str
    installed: str
    pending: str | None

    @property
    def behind(self) -> bool:
        return _version(self.recorded, "") < _version(self.installed, "")


def installed_version() -> str:
    """The version of the running mlprod, which is the version of its bundled template."""
    import mlprod_cli

    return mlprod_cli.__version__


def status(provenance: Provenance) -> Status:
    """The project's template against the installed one; a newer project is a `UserError`."""
    installed = installed_version()
    recorded = _version(provenance.template_version, f"{FILENAME} template_version")
    if recorded > _version(installed, "mlprod's version"):
        raise UserError(
            f"the project's template ({provenance.template_version}) is newer than this "
            f"mlprod's ({installed}); upgrade mlprod: pip install -U mlprod"
        )
    pending = provenance.pending_update
    return Status(
        recorded=provenance.template_version,
        installed=installed,
        pending=None if pending is None else pending.template_version,
    )


def target_version(provenance: Provenance, requested: str | None) -> str:
    """The version to update to: `--to`, checked, or the installed one."""
    installed = installed_version()
    status(provenance)
    if requested is None:
        return installed
    target = _version(requested, "--to")
    if target > _version(installed, "mlprod's version"):
        raise UserError(
            f"--to {requested} is newer than this mlprod ({installed}); "
            f"install mlprod {requested} to update to its template"
        )
    if target < _version(provenance.template_version, ""):
        raise UserError(
            f"--to {requested} is older than the project's template "
            f"({provenance.template_version}); mlprod update only moves forward"
        )
    return requested


def is_current(provenance: Provenance, target: str) -> bool:
    return _version(provenance.template_version, "") == _version(target, "")


def skip_patterns(root: Path) -> list[str]:
    """`[tool.mlprod.update] skip` in the project's pyproject.toml: paths updates never touch."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    pyproject = root / "pyproject.toml"
    try:
        data = tomlkit.parse(pyproject.read_text(encoding="utf-8")).unwrap()
    except (OSError, UnicodeDecodeError, ParseError):
        return []
    table = data.get("tool", {}).get("mlprod", {}).get("update", {})
    skip = table.get("skip", []) if isinstance(table, Mapping) else None
    if not isinstance(skip, list) or not all(isinstance(item, str) for item in skip):
        raise UserError(
            f"{pyproject}: [tool.mlprod.update] skip must be a list of path patterns, "
            f'e.g. skip = ["Dockerfile", "docs/*"]'
        )
    return skip


def skipped_by(path: str, patterns: Sequence[str]) -> str | None:
    """The pattern that matches `path` or one of its folders, if any."""
    candidates = [path, *(str(parent) for parent in PurePosixPath(path).parents)][:-1]
    for pattern in patterns:
        cleaned = pattern.strip("/")
        if any(fnmatchcase(candidate, cleaned) for candidate in candidates):
            return pattern
    return None


def require_git() -> None:
    """Refuse to update without git, which does the merging."""
    if shutil.which("git") is None:
        raise UserError(
            "mlprod update needs git (it merges with `git merge-file`), "
            "and there is no git command on PATH"
        )


def check_clean(root: Path) -> None:
    """Refuse a project in a git repository with uncommitted changes (untracked files too).

    The update writes into the project's files; starting from a clean tree makes it one
    `git diff` to review and `git checkout . && git clean -fd` to undo. A project outside
    git passes.
    """
    from mlprod_cli.git import uncommitted_changes

    toplevel = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--show-toplevel"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if toplevel.returncode != 0:
        return
    changed = uncommitted_changes(root)
    if changed:
        raise UserError(
            f"the git repository {toplevel.stdout.strip()} has uncommitted changes "
            f"({_listed(changed)}); commit or stash them first, or pass --allow-dirty"
        )


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
        base, old_answers = _render(store.get(old), provenance.answers, scratch / "base", old)
        new_given = migrate_answers(provenance.answers, steps)
        theirs, new_answers = _render(store.get(target), new_given, scratch / "theirs", target)
        ours = scratch / "ours"
        copied = _copy_files(root, _files(base) | _files(theirs), ours)
        migrate_files(base, old_answers, steps)
        migrate_files(ours, old_answers, steps)
        labels = ("yours", f"template {old}", f"template {target}")
        paths = sorted(_files(base) | _files(theirs) | _files(ours) | copied)
        changes = [
            change
            for path in paths
            if (change := _decide(path, root, base, ours, theirs, labels, skip)) is not None
        ]
    from mlprod_cli.answers import public_keys

    return Plan(
        root=root,
        old=old,
        new=target,
        answers={key: new_answers[key] for key in public_keys(new_answers)},
        changes=tuple(changes),
        migrations=tuple(steps),
    )


def apply(plan: Plan, provenance: Provenance) -> None:
    """Write the plan's files and `provenance`, or, when one cannot be written, none of them."""
    writes: dict[Path, tuple[bytes, int | None]] = {
        plan.root / change.path: (change.content, change.mode)
        for change in plan.changes
        if change.content is not None
    }
    writes[plan.root / FILENAME] = (provenance.to_text().encode("utf-8"), None)
    _write_all(writes)
    for change in plan.changes:
        if change.action is Action.DELETED:
            (plan.root / change.path).unlink(missing_ok=True)
            _prune_empty(plan.root / change.path, plan.root)


def finish(
    root: Path, provenance: Provenance, mlprod_version: str, dry_run: bool = False
) -> Provenance:
    """Record the pending update once no conflict markers remain in its files."""
    pending = provenance.pending_update
    assert pending is not None
    remaining = [
        path
        for path in pending.conflicts
        if (root / path).is_file() and has_conflict_markers((root / path).read_bytes())
    ]
    if remaining:
        raise Conflicts(
            f"the update to template {pending.template_version} still has conflict markers "
            f"in {_listed(remaining)}; resolve them, then run `mlprod update` again"
        )
    done = Provenance(
        mlprod_version=mlprod_version,
        template_version=pending.template_version,
        answers=dict(pending.answers),
    )
    if not dry_run:
        _write_all({root / FILENAME: (done.to_text().encode("utf-8"), None)})
    return done


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
    if _version(provenance.template_version, f"{FILENAME} template_version") < _version(
        installed, ""
    ):
        answers = migrate_answers(
            answers, between(provenance.template_version, installed, migrations)
        )
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mlprod-diff-") as scratch_name:
        rendered, _ = _render(store.get(installed), answers, Path(scratch_name) / "t", installed)
        for path in sorted(_files(rendered)):
            if skipped_by(path, skip):
                continue
            template = (rendered / path).read_bytes()
            mine = _read(root / path)
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
    b, o, n = _read(base / path), _read(ours / path), _read(theirs / path)
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
    return _change(path, _read(target), result, n, theirs)


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


def _render(
    source: TemplateSource, recorded: Mapping[str, Any], scratch: Path, version: str
) -> tuple[Path, dict[str, Any]]:
    """`source` rendered into `scratch` with the project's answers; the folder and the answers.

    Answers the template does not ask for are left out; ones it asks for and the
    project never gave take the template's defaults.
    """
    from cookiecutter.exceptions import CookiecutterException

    from mlprod_cli.answers import InvalidAnswer, public_keys
    from mlprod_cli.scaffold import gather_answers, render_tree

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


def _files(root: Path) -> set[str]:
    """The regular files under `root`, as POSIX paths relative to it."""
    found: set[str] = set()
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if path.is_file():
                found.add(path.relative_to(root).as_posix())
    return found


def _copy_files(root: Path, paths: set[str], destination: Path) -> set[str]:
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


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None


def _write_all(writes: Mapping[Path, tuple[bytes, int | None]]) -> None:
    """Write every file, or none: each goes to a temporary file beside it first."""
    staged: list[tuple[Path, Path]] = []
    made: list[Path] = []
    try:
        for path, (content, mode) in writes.items():
            made.extend(_make_parents(path.parent))
            temporary = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
            staged.append((temporary, path))
            temporary.write_bytes(content)
            if path.exists():
                shutil.copymode(path, temporary)
            elif mode is not None:
                temporary.chmod(mode)
    except OSError as error:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        for folder in reversed(made):
            shutil.rmtree(folder, ignore_errors=True)
        raise UserError(
            f"cannot write {path}: {error.strerror or error}; nothing was changed"
        ) from None
    for temporary, path in staged:
        os.replace(temporary, path)


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; the ones created, outermost first."""
    missing = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def _prune_empty(path: Path, root: Path) -> None:
    """Remove the folders above a deleted file that it leaves empty, up to `root`."""
    for folder in path.parents:
        if folder == root or not folder.is_relative_to(root) or any(folder.iterdir()):
            return
        folder.rmdir()


def _listed(paths: Sequence[str]) -> str:
    return ", ".join(paths[:_SHOWN]) + (", ..." if len(paths) > _SHOWN else "")


def _version(text: str, what: str) -> Version:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        raise UserError(f"{what} {text!r} is not a version, e.g. 0.2.0") from None
