"""git, as a subprocess with the user's own configuration (identity, hooks, signing).

Two jobs: the git side of `mlprod bump --tag` (check everything first, then commit and
tag, or undo), and `mlprod new`'s first commit (`initialise`). The first commit is
`mlprod new`'s work after rendering, never the hooks': `mlprod update` renders the
template again and must not repeat it. It is also what an update is later reviewed
against (`git diff`) and undone to (`git checkout .`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from mlprod_cli.errors import UserError

_SHOWN_CHANGES = 3


def check_can_tag(folder: Path, tag: str) -> None:
    """Refuse unless `folder` is in a git repository that has a commit, no uncommitted
    changes (untracked files included, ignored ones not) and no tag `tag`."""
    if shutil.which("git") is None:
        raise UserError("--tag needs git, and there is no git command on PATH")
    toplevel = run(folder, "rev-parse", "--show-toplevel")
    if toplevel.returncode != 0:
        raise UserError(
            f"--tag needs a git repository, and {folder} is not in one; "
            "run `git init` and commit the project, or leave out --tag"
        )
    repository = toplevel.stdout.strip()
    if run(folder, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        raise UserError(
            f"--tag needs a commit to build on, and the git repository {repository} has none; "
            "commit the project first"
        )
    changed = uncommitted_changes(folder)
    if changed:
        shown = ", ".join(changed[:_SHOWN_CHANGES])
        if len(changed) > _SHOWN_CHANGES:
            shown += ", ..."
        raise UserError(
            f"--tag needs a clean git repository, and {repository} has uncommitted changes "
            f"({shown}); commit or stash them first, or leave out --tag"
        )
    if run(folder, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}").returncode == 0:
        raise UserError(f"git tag {tag} already exists in {repository}; leave out --tag")


def uncommitted_changes(folder: Path) -> list[str]:
    """The paths `git status --porcelain` lists for the repository holding `folder`."""
    status = run(folder, "status", "--porcelain")
    if status.returncode != 0:
        raise UserError(f"git status failed: {reason(status)}")
    return [line[3:] for line in status.stdout.splitlines() if line]


def commit_and_tag(
    folder: Path, paths: Sequence[Path], message: str, tag: str, tag_message: str
) -> None:
    """Commit `paths` with `message`, then add the annotated tag `tag` on that commit.

    When either step fails the repository is left as it was before the call (the
    files themselves keep their changes; the caller restores them).
    """
    names = [str(path) for path in paths]
    for step in (("add", "--", *names), ("commit", "--quiet", "-m", message)):
        result = run(folder, *step)
        if result.returncode != 0:
            run(folder, "reset", "--quiet", "--", *names)
            raise UserError(f"git {step[0]} failed, so nothing was changed: {reason(result)}")
    tagged = run(folder, "tag", "--annotate", "-m", tag_message, tag)
    if tagged.returncode != 0:
        run(folder, "reset", "--quiet", "--soft", "HEAD~1")
        run(folder, "reset", "--quiet", "--", *names)
        raise UserError(f"git tag failed, so nothing was changed: {reason(tagged)}")


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in `folder`, output captured; a non-zero exit is returned, not raised."""
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False
    )


def reason(result: subprocess.CompletedProcess[str]) -> str:
    """git's own explanation: its `fatal:`/`error:` line, else its last words."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else f"exit code {result.returncode}"


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
