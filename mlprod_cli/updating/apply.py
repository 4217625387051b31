"""Write an update: every file or none, then `.mlprod.json`; and the checks made before."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlprod_cli.errors import UserError
from mlprod_cli.templating.provenance import FILENAME, Provenance
from mlprod_cli.updating.merge import has_conflict_markers
from mlprod_cli.updating.plan import Action, Conflicts, Plan

_SHOWN = 3


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
    from mlprod_cli.vcs import uncommitted_changes

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


def apply(plan: Plan, provenance: Provenance) -> None:
    """Write the plan's files and `provenance`, or, when one cannot be written, none of them."""
    writes: dict[Path, tuple[bytes, int | None]] = {
        plan.root / change.path: (change.content, change.mode)
        for change in plan.changes
        if change.content is not None
    }
    writes[plan.root / FILENAME] = (provenance.to_text().encode("utf-8"), None)
    write_all(writes)
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
        write_all({root / FILENAME: (done.to_text().encode("utf-8"), None)})
    return done


def write_all(writes: Mapping[Path, tuple[bytes, int | None]]) -> None:
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
