"""Make a new project a git repository whose first commit is exactly what the template made.

This is `mlprod new`'s work after rendering, never the hooks': `mlprod update` renders
the template again and must not repeat it. The first commit is also what an update is
later reviewed against (`git diff`) and undone to (`git checkout .`).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Outcome(Enum):
    """How `initialise` left the project."""

    COMMITTED = "committed"
    INSIDE_REPOSITORY = "inside a repository"
    NO_GIT = "no git"
    FAILED = "failed"


@dataclass(frozen=True)
class Initialised:
    outcome: Outcome
    detail: str = ""
    """The enclosing repository (INSIDE_REPOSITORY), or git's reason (FAILED)."""


def initialise(folder: Path, message: str, name: str, email: str) -> Initialised:
    """`git init` `folder` and commit everything in it with `message`.

    The user's git identity is used when git has one; otherwise `name` and `email` (the
    project's author) are passed for this commit only, nothing is written to any git
    configuration. A folder already inside a work tree (a monorepo) is left to that
    repository. A failing commit leaves the repository with the files staged.
    """
    if shutil.which("git") is None:
        return Initialised(Outcome.NO_GIT)
    enclosing = _git(folder, "rev-parse", "--show-toplevel")
    if enclosing.returncode == 0:
        return Initialised(Outcome.INSIDE_REPOSITORY, enclosing.stdout.strip())
    for step in (("init", "--quiet"), ("add", "--all")):
        result = _git(folder, *step)
        if result.returncode != 0:
            return Initialised(Outcome.FAILED, _reason(result))
    commit = ("commit", "--quiet", "--message", message)
    result = _git(folder, *commit)
    # Asking git for its identity only when the commit fails keeps the usual case at
    # four git processes (each costs tens of milliseconds of `mlprod new`).
    if result.returncode != 0 and not _has_identity(folder):
        result = _git(folder, "-c", f"user.name={name}", "-c", f"user.email={email}", *commit)
    if result.returncode != 0:
        return Initialised(Outcome.FAILED, _reason(result))
    return Initialised(Outcome.COMMITTED)


def _has_identity(folder: Path) -> bool:
    """Whether git knows who commits: it refuses to commit when it cannot tell (`git var`)."""
    return all(
        _git(folder, "var", variable).returncode == 0
        for variable in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT")
    )


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False
    )


def _reason(result: subprocess.CompletedProcess[str]) -> str:
    """git's own explanation: its `fatal:`/`error:` line, else its last words."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else f"exit code {result.returncode}"
