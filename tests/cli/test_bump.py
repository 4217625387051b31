"""`mlprod bump`: every path a user can take, errors included, with the exact message."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from gitrepos import git, isolate_git, tree_bytes
from typer.testing import CliRunner, Result

from mlprod_cli.main import app
from mlprod_cli.project import files
from mlprod_cli.release.versioning import DEFAULT_NOTE

PYPROJECT = """\
[project]
name = "credit-risk-scorer"
version = "0.1.0"

# The model this project trains and serves.
[tool.mlprod]
model_name = "credit-risk-scorer"
model_version = "0.1.0"  # changed by `mlprod bump`

[tool.ruff]
line-length = 100
"""

CHANGELOG = """\
# Changelog

## Unreleased

- Model version 0.1.0: the first model.
"""

TODAY = date.today().isoformat()


def bump(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, ["bump", *args])


def without_version_line(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if "model_version" not in line)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder, and the current folder."""
    root = tmp_path / "credit-risk-scorer"
    (root / "src" / "credit_risk_scorer").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "CHANGELOG.md").write_text(CHANGELOG)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def repo(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project as a git repository with everything committed, free of user configuration."""
    isolate_git(monkeypatch, project.parent)
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", ".")
    git(project, "commit", "--quiet", "-m", "First")
    return project


def test_minor_bumps_the_version_and_notes_it(runner: CliRunner, project: Path) -> None:
    result = bump(runner, "minor")
    assert result.exit_code == 0, result.output
    entry = f"- Model version 0.2.0 (minor bump from 0.1.0, {TODAY}): {DEFAULT_NOTE}"
    assert result.stdout == (
        "0.1.0 -> 0.2.0\n"
        'Set model_version = "0.2.0" in pyproject.toml\n'
        "Added to CHANGELOG.md, under Unreleased:\n"
        f"  {entry}\n"
    )
    assert result.stderr == ""
    pyproject = (project / "pyproject.toml").read_text()
    assert 'model_version = "0.2.0"  # changed by `mlprod bump`\n' in pyproject
    assert without_version_line(pyproject) == without_version_line(PYPROJECT)
    assert (project / "CHANGELOG.md").read_text() == CHANGELOG.replace(
        "\n- Model version 0.1.0", f"\n{entry}\n- Model version 0.1.0"
    )


@pytest.mark.parametrize(
    ("part", "new"),
    [("major", "1.0.0"), ("patch", "0.1.1"), ("prerelease", "0.1.1-rc.1")],
)
def test_each_part_bumps_its_number(runner: CliRunner, project: Path, part: str, new: str) -> None:
    result = bump(runner, part)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"0.1.0 -> {new}\n")
    assert f'model_version = "{new}"' in (project / "pyproject.toml").read_text()


def test_prerelease_then_release(runner: CliRunner, project: Path) -> None:
    outputs = [bump(runner, part).stdout.splitlines()[0] for part in ("prerelease", "prerelease")]
    release = bump(runner, "release")
    assert [*outputs, release.stdout.splitlines()[0]] == [
        "0.1.0 -> 0.1.1-rc.1",
        "0.1.1-rc.1 -> 0.1.1-rc.2",
        "0.1.1-rc.2 -> 0.1.1",
    ]
    assert f"- Model version 0.1.1 (release of 0.1.1-rc.2, {TODAY}): " in release.stdout
    assert (project / "CHANGELOG.md").read_text().count("- Model version") == 4


def test_message_fills_the_changelog_line(runner: CliRunner, project: Path) -> None:
    result = bump(runner, "patch", "-m", "retrained on March's data")
    assert result.exit_code == 0, result.output
    entry = f"- Model version 0.1.1 (patch bump from 0.1.0, {TODAY}): retrained on March's data"
    assert f"  {entry}\n" in result.stdout
    assert f"\n{entry}\n" in (project / "CHANGELOG.md").read_text()


def test_dry_run_says_what_would_change_and_changes_nothing(
    runner: CliRunner, project: Path
) -> None:
    before = tree_bytes(project)
    result = bump(runner, "major", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "0.1.0 -> 1.0.0 (dry run: nothing changed)\n"
        'Would set model_version = "1.0.0" in pyproject.toml\n'
        "Would add to CHANGELOG.md, under Unreleased:\n"
        f"  - Model version 1.0.0 (major bump from 0.1.0, {TODAY}): {DEFAULT_NOTE}\n"
    )
    assert tree_bytes(project) == before


def test_discovery_from_a_subfolder(
    runner: CliRunner, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "src" / "credit_risk_scorer")
    result = bump(runner, "patch")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == [
        "0.1.0 -> 0.1.1",
        f'Set model_version = "0.1.1" in {project / "pyproject.toml"}',
        f"Added to {project / 'CHANGELOG.md'}, under Unreleased:",
    ]


def test_project_option_names_the_folder(
    runner: CliRunner, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = bump(runner, "patch", "--project", "credit-risk-scorer")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == (
        'Set model_version = "0.1.1" in credit-risk-scorer/pyproject.toml'
    )
    assert 'model_version = "0.1.1"' in (project / "pyproject.toml").read_text()


def test_a_missing_changelog_is_created(runner: CliRunner, project: Path) -> None:
    (project / "CHANGELOG.md").unlink()
    result = bump(runner, "patch", "-m", "fixed")
    assert result.exit_code == 0, result.output
    assert "Added to CHANGELOG.md (a new file), under Unreleased:\n" in result.stdout
    assert (project / "CHANGELOG.md").read_text() == (
        "# Changelog\n\n## Unreleased\n\n"
        f"- Model version 0.1.1 (patch bump from 0.1.0, {TODAY}): fixed\n"
    )


def test_tag_commits_both_files_and_tags_the_commit(runner: CliRunner, repo: Path) -> None:
    result = bump(runner, "minor", "--tag", "-m", "more data")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        'Committed "Bump model version to 0.2.0" and tagged it model-v0.2.0'
    )
    assert git(repo, "log", "-1", "--format=%s").strip() == "Bump model version to 0.2.0"
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [
        "CHANGELOG.md",
        "pyproject.toml",
    ]
    assert git(repo, "tag", "-n1").split() == ["model-v0.2.0", "Model", "version", "0.2.0"]
    assert git(repo, "rev-parse", "model-v0.2.0^{commit}") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "status", "--porcelain") == ""


def test_tag_with_dry_run_checks_the_repository_and_changes_nothing(
    runner: CliRunner, repo: Path
) -> None:
    before = tree_bytes(repo)
    head = git(repo, "rev-parse", "HEAD")
    result = bump(runner, "minor", "--tag", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        'Would commit "Bump model version to 0.2.0" and tag it model-v0.2.0'
    )
    assert tree_bytes(repo) == before
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "tag") == ""


def test_tag_refuses_a_dirty_repository_and_changes_nothing(runner: CliRunner, repo: Path) -> None:
    (repo / "notes.txt").write_text("draft")
    before = tree_bytes(repo)
    result = bump(runner, "minor", "--tag")
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: --tag needs a clean git repository, and {repo} has uncommitted changes "
        "(notes.txt); commit or stash them first, or leave out --tag\n"
    )
    assert result.stdout == ""
    assert tree_bytes(repo) == before
    assert git(repo, "log", "--format=%s").split("\n")[:1] == ["First"]


def test_tag_refuses_a_folder_outside_git(runner: CliRunner, project: Path) -> None:
    before = tree_bytes(project)
    result = bump(runner, "patch", "--tag")
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: --tag needs a git repository, and {project} is not in one; "
        "run `git init` and commit the project, or leave out --tag\n"
    )
    assert tree_bytes(project) == before


def test_tag_refuses_an_existing_tag(runner: CliRunner, repo: Path) -> None:
    git(repo, "tag", "model-v0.1.1")
    before = tree_bytes(repo)
    result = bump(runner, "patch", "--tag")
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: git tag model-v0.1.1 already exists in {repo}; leave out --tag\n"
    )
    assert tree_bytes(repo) == before


def test_a_failed_commit_puts_both_files_back(runner: CliRunner, repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'error: tests must pass first' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = tree_bytes(repo)
    result = bump(runner, "patch", "--tag")
    assert result.exit_code == 1
    assert result.stderr == (
        "mlprod: git commit failed, so nothing was changed: error: tests must pass first\n"
    )
    assert tree_bytes(repo) == before
    assert git(repo, "status", "--porcelain") == ""


def test_no_project_here_or_above(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = bump(runner, "minor")
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: no mlprod project here or above {tmp_path}; "
        "run inside a project made by `mlprod new` or pass --project\n"
    )
    assert result.stdout == ""


def test_project_option_naming_a_missing_folder(runner: CliRunner, tmp_path: Path) -> None:
    result = bump(runner, "minor", "--project", str(tmp_path / "absent"))
    assert result.exit_code == 1
    assert result.stderr == f"mlprod: --project {tmp_path / 'absent'} does not exist\n"


def test_project_option_naming_a_folder_that_is_not_a_project(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = bump(runner, "minor", "--project", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: {tmp_path} is not an mlprod project: {tmp_path / 'pyproject.toml'} has no "
        "[tool.mlprod] table; pass the folder of a project made by `mlprod new`\n"
    )


def test_an_unparsable_version_is_named_with_its_file(runner: CliRunner, project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT.replace('"0.1.0"  #', '"1.0"  #'))
    before = tree_bytes(project)
    result = bump(runner, "minor")
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: {project / 'pyproject.toml'}: [tool.mlprod] model_version '1.0' is not a "
        "semantic version (MAJOR.MINOR.PATCH, optionally -PRERELEASE, e.g. 0.1.0 or 0.2.0-rc.1)\n"
    )
    assert tree_bytes(project) == before


def test_release_refuses_a_release(runner: CliRunner, project: Path) -> None:
    before = tree_bytes(project)
    result = bump(runner, "release")
    assert result.exit_code == 1
    assert result.stderr == (
        "mlprod: model_version 0.1.0 is already a release; "
        "`release` turns a pre-release such as 0.1.1-rc.1 into 0.1.1\n"
    )
    assert tree_bytes(project) == before


def test_a_message_on_two_lines_is_refused(runner: CliRunner, project: Path) -> None:
    result = bump(runner, "patch", "-m", "one\ntwo")
    assert result.exit_code == 1
    assert result.stderr == "mlprod: --message must be one line of text\n"


def test_an_unwritable_file_leaves_both_files_as_they_were(
    runner: CliRunner, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stage = files._stage

    def stage(path: Path, text: str) -> Path:
        if path.name == "CHANGELOG.md":
            raise PermissionError(13, "Permission denied")
        return real_stage(path, text)

    monkeypatch.setattr(files, "_stage", stage)
    before = tree_bytes(project)
    result = bump(runner, "minor")
    assert result.exit_code == 1
    assert result.stderr == f"mlprod: cannot write {project / 'CHANGELOG.md'}: Permission denied\n"
    assert result.stdout == ""
    assert tree_bytes(project) == before


def test_an_unknown_part_is_a_usage_error(runner: CliRunner, project: Path) -> None:
    result = bump(runner, "huge")
    assert result.exit_code == 2
    assert "Invalid value for 'PART'" in result.stderr


def test_debug_mode_shows_the_traceback(
    runner: CliRunner, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLPROD_DEBUG", "1")
    result = bump(runner, "release")
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "UserError"


def test_bumps_a_project_made_by_mlprod_new(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = runner.invoke(app, ["new", "--no-input", "-o", str(tmp_path)])
    assert made.exit_code == 0, made.output
    project = tmp_path / "iris-classifier"
    pyproject = (project / "pyproject.toml").read_text()
    changelog = (project / "CHANGELOG.md").read_text()
    monkeypatch.chdir(project / "src" / "iris_classifier")

    result = bump(runner, "minor", "-m", "more trees")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "0.1.0 -> 0.2.0"
    bumped = (project / "pyproject.toml").read_text()
    assert without_version_line(bumped) == without_version_line(pyproject)
    assert bumped.count('model_version = "0.2.0"') == 1
    entry = f"- Model version 0.2.0 (minor bump from 0.1.0, {TODAY}): more trees"
    assert (project / "CHANGELOG.md").read_text() == changelog.replace(
        "## Unreleased\n\n", f"## Unreleased\n\n{entry}\n", 1
    )
