"""The model's semantic version: the next one, and the two files that record it.

The version lives in `pyproject.toml` (`[tool.mlprod] model_version`); each change
is noted in `CHANGELOG.md`. A bump is planned first (`plan_bump`, which writes
nothing) and then applied (`Bump.apply`), both files or neither.

The next version is always the smallest of its kind above the current one, as
semver's `Version.next_version` defines it:

    part        0.1.0           0.1.1-rc.2      1.0.0-rc.1
    major       1.0.0           1.0.0           1.0.0
    minor       0.2.0           0.2.0           1.0.0
    patch       0.1.1           0.1.1           1.0.0
    prerelease  0.1.1-rc.1      0.1.1-rc.3      1.0.0-rc.2
    release     (refused)       0.1.1           1.0.0

So `major`, `minor` or `patch` on a pre-release of that kind releases it rather
than skipping a version that was never released. The rules are written out here,
on semver's parser and `bump_*` methods, because `next_version` itself changed
between semver 3.0 and 3.1 (3.0 leaves `1.0.0-beta` unchanged on "prerelease").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod_cli.errors import UserError
from mlprod_cli.project import Project
from mlprod_cli.project.files import write_files
from mlprod_cli.release import changelog

if TYPE_CHECKING:
    from semver import Version

PRERELEASE_LABEL = "rc"
DEFAULT_NOTE = "describe what changed in the model or its data."


class Part(str, Enum):
    """What a bump changes."""

    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"
    PRERELEASE = "prerelease"
    RELEASE = "release"


def parse_version(text: str, source: Path) -> Version:
    """`text` as a semantic version; `source` names the file it came from, for the error."""
    from semver import Version

    try:
        return Version.parse(text)
    except ValueError:
        raise UserError(
            f"{source}: [tool.mlprod] model_version {text!r} is not a semantic version "
            "(MAJOR.MINOR.PATCH, optionally -PRERELEASE, e.g. 0.1.0 or 0.2.0-rc.1)"
        ) from None


def next_version(version: Version, part: Part) -> Version:
    """The version after `version` for `part` (see the module's table)."""
    release = version.replace(prerelease=None, build=None)
    if part is Part.RELEASE:
        if version.prerelease is None:
            raise UserError(
                f"model_version {version} is already a release; "
                "`release` turns a pre-release such as 0.1.1-rc.1 into 0.1.1"
            )
        return release
    if part is Part.PRERELEASE:
        return _next_prerelease(version, release)
    if version.prerelease is not None and _is_prerelease_of(version, part):
        return release
    if part is Part.MAJOR:
        return version.bump_major()
    if part is Part.MINOR:
        return version.bump_minor()
    return version.bump_patch()


def _is_prerelease_of(version: Version, part: Part) -> bool:
    """Whether `version`'s release would itself be a `part` release (1.0.0 is a major one)."""
    if part is Part.MAJOR:
        return version.minor == version.patch == 0
    if part is Part.MINOR:
        return version.patch == 0
    return True


def _next_prerelease(version: Version, release: Version) -> Version:
    """`-rc.1` of the next patch from a release; `-rc.N+1` from `-rc.N`; else the next `-rc`."""
    first = f"{PRERELEASE_LABEL}.1"
    if version.prerelease is None:
        return version.bump_patch().replace(prerelease=first)
    counter = re.fullmatch(rf"{PRERELEASE_LABEL}\.(\d+)", version.prerelease)
    if counter:
        return release.replace(prerelease=f"{PRERELEASE_LABEL}.{int(counter[1]) + 1}")
    candidate = release.replace(prerelease=first)
    return candidate if candidate > version else release.bump_patch().replace(prerelease=first)


def with_model_version(pyproject_text: str, version: str) -> str:
    """`pyproject_text` with `[tool.mlprod] model_version` set to `version`, all else kept.

    Comments, spacing, key order and the string's quoting style stay as they were.
    """
    import tomlkit
    from tomlkit.items import String

    document = tomlkit.parse(pyproject_text)
    tool: Any = document["tool"]
    table = tool["mlprod"]
    old = table["model_version"]
    literal = isinstance(old, String) and old.as_string().startswith("'")
    table["model_version"] = tomlkit.string(version, literal=literal)
    return document.as_string()


def changelog_entry(old: str, new: str, part: Part, today: date, note: str) -> str:
    """The changelog line for a bump from `old` to `new`."""
    how = f"release of {old}" if part is Part.RELEASE else f"{part.value} bump from {old}"
    return f"- Model version {new} ({how}, {today.isoformat()}): {note}"


@dataclass(frozen=True)
class FileChange:
    """A file's text before (None when the file is new) and after a change."""

    path: Path
    before: str | None
    after: str


@dataclass(frozen=True)
class Bump:
    """A planned bump: nothing is written until `apply`."""

    project: Project
    part: Part
    old: str
    new: str
    entry: str
    pyproject: FileChange
    changelog: FileChange

    @property
    def tag(self) -> str:
        return f"model-v{self.new}"

    @property
    def commit_message(self) -> str:
        return f"Bump model version to {self.new}"

    @property
    def changes(self) -> tuple[FileChange, FileChange]:
        return (self.pyproject, self.changelog)

    def apply(self) -> None:
        """Write both files, or neither."""
        write_files({change.path: change.after for change in self.changes})

    def revert(self) -> None:
        """Put both files back as they were before `apply`."""
        write_files(
            {change.path: change.before for change in self.changes if change.before is not None}
        )
        for change in self.changes:
            if change.before is None:
                change.path.unlink(missing_ok=True)


def plan_bump(project: Project, part: Part, today: date, note: str = DEFAULT_NOTE) -> Bump:
    """What bumping `project`'s model version by `part` would change; writes nothing."""
    if "\n" in note or "\r" in note or not note.strip():
        raise UserError("--message must be one line of text")
    old = project.model_version
    new = str(next_version(parse_version(old, project.pyproject), part))
    entry = changelog_entry(old, new, part, today, note.strip())
    pyproject_text = _read(project.pyproject)
    changelog_text = _read(project.changelog) if project.changelog.exists() else None
    return Bump(
        project=project,
        part=part,
        old=old,
        new=new,
        entry=entry,
        pyproject=FileChange(
            project.pyproject, pyproject_text, with_model_version(pyproject_text, new)
        ),
        changelog=FileChange(
            project.changelog, changelog_text, changelog.add_entry(changelog_text, entry)
        ),
    )


def bump_model_version(
    project: Project, part: Part, today: date, note: str, *, tag: bool, dry_run: bool
) -> Bump:
    """Bump the project's model version: plan, check, write both files, commit and tag.

    Every check (the version, the git repository for `tag`) comes before the first
    write; when committing or tagging fails, both files are put back. With `dry_run`
    the checks run and nothing is written.
    """
    from mlprod_cli import vcs  # subprocess is not needed for `mlprod --help`

    bump = plan_bump(project, part, today, note)
    if tag:
        vcs.check_can_tag(project.root, bump.tag)
    if dry_run:
        return bump
    bump.apply()
    if tag:
        try:
            vcs.commit_and_tag(
                project.root,
                [change.path for change in bump.changes],
                bump.commit_message,
                bump.tag,
                f"Model version {bump.new}",
            )
        except UserError:
            bump.revert()
            raise
    return bump


def _read(path: Path) -> str:
    """The file's text exactly, line endings included."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UserError(f"cannot read {path}: it is not UTF-8 text") from None
