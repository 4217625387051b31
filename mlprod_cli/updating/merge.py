"""A three-way merge of one file's contents, by `git merge-file`.

git's merge is the one users already read conflicts from: the same algorithm, the
same `<<<<<<<` / `=======` / `>>>>>>>` markers, the user's `merge.conflictStyle`.
It runs on three temporary files, outside any repository.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlprod_cli.errors import UserError

# git's own test for binary content: a NUL byte in the first 8000 bytes.
_BINARY_PROBE = 8000
CONFLICT_MARKERS = (b"<<<<<<< ", b">>>>>>> ")


@dataclass(frozen=True)
class Merged:
    """The merged content, and how many places in it hold conflict markers."""

    content: bytes
    conflicts: int


def is_binary(content: bytes) -> bool:
    """Whether git would treat `content` as binary (and refuse to merge it line by line)."""
    return b"\0" in content[:_BINARY_PROBE]


def has_conflict_markers(content: bytes) -> bool:
    """Whether a line of `content` starts a conflict's first or last marker."""
    return any(line.startswith(CONFLICT_MARKERS) for line in content.splitlines())


def merge(base: bytes, ours: bytes, theirs: bytes, labels: tuple[str, str, str]) -> Merged:
    """Merge `theirs`' changes since `base` into `ours`.

    Where both changed the same lines, the result holds both versions between conflict
    markers labelled `labels` (ours, base, theirs). Raises `UserError` when git cannot
    run the merge.
    """
    with tempfile.TemporaryDirectory(prefix="mlprod-merge-") as scratch_name:
        scratch = Path(scratch_name)
        paths = []
        for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = scratch / name
            path.write_bytes(content)
            paths.append(str(path))
        ours_label, base_label, theirs_label = labels
        # Exit code: the number of conflicts (at most 127); negative (255) on an error.
        result = subprocess.run(
            ["git", "merge-file", "-p",
             "-L", ours_label, "-L", base_label, "-L", theirs_label, *paths],
            capture_output=True, check=False, cwd=scratch,
        )  # fmt: skip
    if result.returncode < 0 or result.returncode > 127:
        reason = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
        raise UserError(f"git merge-file failed: {reason.splitlines()[0]}")
    return Merged(content=result.stdout, conflicts=result.returncode)
