"""The next model version, and the two files that record it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from semver import Version

from mlprod_cli.errors import UserError
from mlprod_cli.project import files, find_project
from mlprod_cli.release.versioning import (
    DEFAULT_NOTE,
    Part,
    bump_model_version,
    changelog_entry,
    next_version,
    parse_version,
    plan_bump,
    with_model_version,
)

TODAY = date(2026, 11, 26)

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.24"]

[project]
name = "credit-risk-scorer"
version = "0.1.0"     # the package's version, not the model's
dependencies = [
  "numpy>=1.24",  # arrays
]

# The model this project trains and serves.
[tool.mlprod]
model_name = "credit-risk-scorer"
model_version = "0.1.0"   # bumped by `mlprod bump`
max_latency_ms = 5

[tool.ruff]
line-length = 100
"""

CHANGELOG = """\
# Changelog

## Unreleased

- Model version 0.1.0: the first model.
"""


@pytest.mark.parametrize(
    ("current", "part", "expected"),
    [
        ("0.1.0", Part.MAJOR, "1.0.0"),
        ("0.1.0", Part.MINOR, "0.2.0"),
        ("0.1.0", Part.PATCH, "0.1.1"),
        ("0.1.0", Part.PRERELEASE, "0.1.1-rc.1"),
        ("0.1.1-rc.2", Part.MAJOR, "1.0.0"),
        ("0.1.1-rc.2", Part.MINOR, "0.2.0"),
        ("0.1.1-rc.2", Part.PATCH, "0.1.1"),
        ("0.1.1-rc.2", Part.PRERELEASE, "0.1.1-rc.3"),
        ("0.1.1-rc.2", Part.RELEASE, "0.1.1"),
        ("1.0.0-rc.1", Part.MAJOR, "1.0.0"),
        ("1.0.0-rc.1", Part.MINOR, "1.0.0"),
        ("1.0.0-rc.1", Part.PATCH, "1.0.0"),
        ("1.0.0-rc.1", Part.PRERELEASE, "1.0.0-rc.2"),
        ("1.2.0-rc.1", Part.MAJOR, "2.0.0"),
        ("1.2.0-rc.1", Part.MINOR, "1.2.0"),
        ("1.2.0-rc.9", Part.PRERELEASE, "1.2.0-rc.10"),
        ("1.0.0-beta.2", Part.PRERELEASE, "1.0.0-rc.1"),
        ("1.0.0-rc", Part.PRERELEASE, "1.0.0-rc.1"),
        ("1.0.0-zeta", Part.PRERELEASE, "1.0.1-rc.1"),
        ("1.0.0+build.7", Part.MAJOR, "2.0.0"),
        ("1.0.0+build.7", Part.PATCH, "1.0.1"),
        ("1.0.0-rc.1+build.7", Part.RELEASE, "1.0.0"),
    ],
)
def test_next_version(current: str, part: Part, expected: str) -> None:
    assert str(next_version(Version.parse(current), part)) == expected


@pytest.mark.parametrize("part", list(Part))
@pytest.mark.parametrize("current", ["0.1.0", "0.1.1-rc.2", "1.0.0-beta", "2.0.0-rc.1+b.1"])
def test_next_version_always_goes_up(current: str, part: Part) -> None:
    version = Version.parse(current)
    if part is Part.RELEASE and version.prerelease is None:
        return
    assert next_version(version, part) > version


def test_release_of_a_release_is_refused() -> None:
    with pytest.raises(UserError) as caught:
        next_version(Version.parse("0.2.0"), Part.RELEASE)
    assert str(caught.value) == (
        "model_version 0.2.0 is already a release; "
        "`release` turns a pre-release such as 0.1.1-rc.1 into 0.1.1"
    )


@pytest.mark.parametrize("text", ["0.1", "v0.1.0", "latest", "01.0.0", ""])
def test_parse_version_names_the_file_and_the_value(text: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_version(text, Path("/p/pyproject.toml"))
    assert str(caught.value) == (
        f"/p/pyproject.toml: [tool.mlprod] model_version {text!r} is not a semantic version "
        "(MAJOR.MINOR.PATCH, optionally -PRERELEASE, e.g. 0.1.0 or 0.2.0-rc.1)"
    )


def without_version_line(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if "model_version" not in line)


def test_with_model_version_changes_only_the_value() -> None:
    changed = with_model_version(PYPROJECT, "0.2.0-rc.1")
    assert without_version_line(changed) == without_version_line(PYPROJECT)
    assert 'model_version = "0.2.0-rc.1"   # bumped by `mlprod bump`\n' in changed
    assert len(changed.splitlines()) == len(PYPROJECT.splitlines())


def test_with_model_version_keeps_literal_quotes_and_windows_line_endings() -> None:
    text = "[tool.mlprod]\r\nmodel_version='0.1.0'\r\nmodel_name='m'\r\n"
    assert (
        with_model_version(text, "0.1.1")
        == "[tool.mlprod]\r\nmodel_version='0.1.1'\r\nmodel_name='m'\r\n"
    )


def test_with_model_version_handles_dotted_keys() -> None:
    text = '[tool]\nmlprod.model_version = "0.1.0"\nmlprod.model_name = "m"\n'
    assert with_model_version(text, "1.0.0") == (
        '[tool]\nmlprod.model_version = "1.0.0"\nmlprod.model_name = "m"\n'
    )


def test_changelog_entry_says_what_and_when() -> None:
    assert changelog_entry("0.1.0", "0.2.0", Part.MINOR, TODAY, "retrained on 2026 data") == (
        "- Model version 0.2.0 (minor bump from 0.1.0, 2026-11-26): retrained on 2026 data"
    )
    assert changelog_entry("0.2.1-rc.1", "0.2.1", Part.RELEASE, TODAY, "good enough") == (
        "- Model version 0.2.1 (release of 0.2.1-rc.1, 2026-11-26): good enough"
    )


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG)
    return tmp_path


def test_plan_bump_writes_nothing(project_dir: Path) -> None:
    bump = plan_bump(find_project(project_dir), Part.MINOR, TODAY)
    assert (bump.old, bump.new, bump.tag) == ("0.1.0", "0.2.0", "model-v0.2.0")
    assert bump.commit_message == "Bump model version to 0.2.0"
    assert (
        bump.entry == f"- Model version 0.2.0 (minor bump from 0.1.0, 2026-11-26): {DEFAULT_NOTE}"
    )
    assert (project_dir / "pyproject.toml").read_text() == PYPROJECT
    assert (project_dir / "CHANGELOG.md").read_text() == CHANGELOG


def test_apply_writes_both_files_and_revert_restores_them(project_dir: Path) -> None:
    bump = plan_bump(find_project(project_dir), Part.PATCH, TODAY, "fixed a feature")
    bump.apply()
    assert find_project(project_dir).model_version == "0.1.1"
    assert (project_dir / "CHANGELOG.md").read_text() == CHANGELOG.replace(
        "\n- Model version 0.1.0",
        "\n- Model version 0.1.1 (patch bump from 0.1.0, 2026-11-26): fixed a feature"
        "\n- Model version 0.1.0",
    )
    bump.revert()
    assert (project_dir / "pyproject.toml").read_text() == PYPROJECT
    assert (project_dir / "CHANGELOG.md").read_text() == CHANGELOG


def test_revert_removes_a_changelog_the_bump_created(project_dir: Path) -> None:
    (project_dir / "CHANGELOG.md").unlink()
    bump = plan_bump(find_project(project_dir), Part.PATCH, TODAY)
    bump.apply()
    assert (project_dir / "CHANGELOG.md").read_text().startswith("# Changelog\n\n## Unreleased\n")
    bump.revert()
    assert sorted(path.name for path in project_dir.iterdir()) == ["pyproject.toml"]


@pytest.mark.parametrize("note", ["two\nlines", "   "])
def test_plan_bump_refuses_a_note_that_is_not_one_line(project_dir: Path, note: str) -> None:
    with pytest.raises(UserError, match=r"^--message must be one line of text$"):
        plan_bump(find_project(project_dir), Part.PATCH, TODAY, note)


def test_plan_bump_refuses_an_unparsable_version(project_dir: Path) -> None:
    pyproject = project_dir / "pyproject.toml"
    pyproject.write_text(PYPROJECT.replace('"0.1.0"   #', '"one"   #'))
    with pytest.raises(UserError, match=r"model_version 'one' is not a semantic version"):
        plan_bump(find_project(project_dir), Part.PATCH, TODAY)


def test_a_failed_write_changes_neither_file(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stage = files._stage

    def stage(path: Path, text: str) -> Path:
        if path.name == "CHANGELOG.md":
            raise OSError(28, "No space left on device")
        return real_stage(path, text)

    monkeypatch.setattr(files, "_stage", stage)
    with pytest.raises(UserError) as caught:
        bump_model_version(
            find_project(project_dir), Part.MAJOR, TODAY, DEFAULT_NOTE, tag=False, dry_run=False
        )
    assert str(caught.value) == (
        f"cannot write {project_dir / 'CHANGELOG.md'}: No space left on device"
    )
    assert (project_dir / "pyproject.toml").read_text() == PYPROJECT
    assert (project_dir / "CHANGELOG.md").read_text() == CHANGELOG
    assert sorted(path.name for path in project_dir.iterdir()) == ["CHANGELOG.md", "pyproject.toml"]


def test_dry_run_writes_nothing(project_dir: Path) -> None:
    bump = bump_model_version(
        find_project(project_dir), Part.MAJOR, TODAY, DEFAULT_NOTE, tag=False, dry_run=True
    )
    assert bump.new == "1.0.0"
    assert (project_dir / "pyproject.toml").read_text() == PYPROJECT
    assert (project_dir / "CHANGELOG.md").read_text() == CHANGELOG
