"""The git checks before a tagged bump, and the commit and tag after it, in real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitrepos import git, isolate_git

from mlprod_cli.errors import UserError
from mlprod_cli.vcs import check_can_tag, commit_and_tag, uncommitted_changes


@pytest.fixture(autouse=True)
def git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An identity, and no user or system configuration (signing, hooks) in the way."""
    isolate_git(monkeypatch, tmp_path)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "a.txt").write_text("a\n")
    git(folder, "init", "--quiet", "--initial-branch=main")
    git(folder, "add", ".")
    git(folder, "commit", "--quiet", "-m", "First")
    return folder


def test_a_clean_repository_may_be_tagged(repo: Path) -> None:
    check_can_tag(repo, "model-v1.0.0")
    check_can_tag(repo / ".", "model-v1.0.0")


def test_a_folder_outside_git_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(UserError) as caught:
        check_can_tag(folder, "model-v1.0.0")
    assert str(caught.value) == (
        f"--tag needs a git repository, and {folder} is not in one; "
        "run `git init` and commit the project, or leave out --tag"
    )


def test_a_repository_without_commits_is_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    with pytest.raises(UserError) as caught:
        check_can_tag(tmp_path, "model-v1.0.0")
    assert str(caught.value) == (
        f"--tag needs a commit to build on, and the git repository {tmp_path} has none; "
        "commit the project first"
    )


def test_uncommitted_changes_are_listed_and_refused(repo: Path) -> None:
    (repo / "a.txt").write_text("changed\n")
    for name in ("b.txt", "c.txt", "d.txt"):
        (repo / name).write_text("new\n")
    assert uncommitted_changes(repo) == ["a.txt", "b.txt", "c.txt", "d.txt"]
    with pytest.raises(UserError) as caught:
        check_can_tag(repo, "model-v1.0.0")
    assert str(caught.value) == (
        f"--tag needs a clean git repository, and {repo} has uncommitted changes "
        "(a.txt, b.txt, c.txt, ...); commit or stash them first, or leave out --tag"
    )


def test_ignored_files_do_not_count_as_changes(repo: Path) -> None:
    (repo / ".gitignore").write_text("models/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "--quiet", "-m", "Ignore models")
    (repo / "models").mkdir()
    (repo / "models" / "m-0.1.0.joblib").write_text("weights")
    assert uncommitted_changes(repo) == []


def test_an_existing_tag_is_refused(repo: Path) -> None:
    git(repo, "tag", "model-v1.0.0")
    with pytest.raises(UserError) as caught:
        check_can_tag(repo, "model-v1.0.0")
    assert str(caught.value) == f"git tag model-v1.0.0 already exists in {repo}; leave out --tag"


def test_commit_and_tag_commits_only_the_given_files(repo: Path) -> None:
    (repo / "a.txt").write_text("bumped\n")
    (repo / "new.md").write_text("notes\n")
    commit_and_tag(repo, [repo / "a.txt", repo / "new.md"], "Bump", "v2", "Version 2")
    assert git(repo, "log", "-1", "--format=%s").strip() == "Bump"
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["a.txt", "new.md"]
    assert git(repo, "cat-file", "-t", "v2").strip() == "tag"
    assert git(repo, "rev-parse", "v2^{commit}") == git(repo, "rev-parse", "HEAD")
    assert uncommitted_changes(repo) == []


def test_a_failed_commit_leaves_the_repository_as_it_was(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'error: refused by a hook' >&2\nexit 1\n")
    hook.chmod(0o755)
    (repo / "a.txt").write_text("bumped\n")
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(UserError) as caught:
        commit_and_tag(repo, [repo / "a.txt"], "Bump", "v2", "Version 2")
    assert (
        str(caught.value) == "git commit failed, so nothing was changed: error: refused by a hook"
    )
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert git(repo, "tag") == ""


def test_a_failed_tag_undoes_the_commit(repo: Path) -> None:
    (repo / "a.txt").write_text("bumped\n")
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(UserError) as caught:
        commit_and_tag(repo, [repo / "a.txt"], "Bump", "bad..name", "Version 2")
    assert str(caught.value) == (
        "git tag failed, so nothing was changed: fatal: 'bad..name' is not a valid tag name."
    )
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "diff", "--cached", "--name-only") == ""
