"""Make a new project a git repository whose first commit is exactly what the template made.

This is `mlprod new`'s work after rendering, never the hooks': `mlprod update` renders
the template again and must not repeat it. The first commit is also what an update is
later reviewed against (`git diff`) and undone to (`git checkout .`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from mlprod_cli.git import reason, run


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
    enclosing = run(folder, "rev-parse", "--show-toplevel")
    if enclosing.returncode == 0:
        return Initialised(Outcome.INSIDE_REPOSITORY, enclosing.stdout.strip())
    for step in (("init", "--quiet"), ("add", "--all")):
        result = run(folder, *step)
        if result.returncode != 0:
            return Initialised(Outcome.FAILED, reason(result))
    commit = ("commit", "--quiet", "--message", message)
    result = run(folder, *commit)
    # Asking git for its identity only when the commit fails keeps the usual case at
    # four git processes (each costs tens of milliseconds of `mlprod new`).
    if result.returncode != 0 and not _has_identity(folder):
        result = run(folder, "-c", f"user.name={name}", "-c", f"user.email={email}", *commit)
    if result.returncode != 0:
        return Initialised(Outcome.FAILED, reason(result))
    return Initialised(Outcome.COMMITTED)


def _has_identity(folder: Path) -> bool:
    """Whether git knows who commits: it refuses to commit when it cannot tell (`git var`)."""
    return all(
        run(folder, "var", variable).returncode == 0
        for variable in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT")
    )
