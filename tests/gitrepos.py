"""Real git repositories in tests: the command, a git free of the user's configuration, and
a snapshot of a working tree to prove that nothing in it changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

IDENTITY = ("Test", "test@example.com")


def git(folder: Path, *args: str) -> str:
    """`git -C folder args...`; its standard output (a failure raises)."""
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout


def isolate_git(monkeypatch: pytest.MonkeyPatch, folder: Path, identity: bool = True) -> None:
    """No user or system configuration (signing, hooks) in the way; an empty config file is
    made in `folder`. With `identity`, commits are by `IDENTITY`; without, git knows of none.
    """
    empty = folder / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    name, email = IDENTITY
    for role in ("AUTHOR", "COMMITTER"):
        if identity:
            monkeypatch.setenv(f"GIT_{role}_NAME", name)
            monkeypatch.setenv(f"GIT_{role}_EMAIL", email)
        else:
            monkeypatch.delenv(f"GIT_{role}_NAME", raising=False)
            monkeypatch.delenv(f"GIT_{role}_EMAIL", raising=False)
    if not identity:
        monkeypatch.delenv("EMAIL", raising=False)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` but git's own, with its content: a snapshot to compare."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }
