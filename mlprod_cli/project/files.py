"""Change several files together: all of them, or none."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from mlprod_cli.errors import UserError


def write_files(contents: Mapping[Path, str]) -> None:
    """Give each file its new text, or leave every one of them as it was.

    Each text goes to a temporary file beside its target first; only when all are
    written are they moved into place with `os.replace`, which is atomic within a
    folder. A file keeps its permissions; a new one gets the usual ones (umask).
    Line endings are written as given.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in contents.items():
            staged.append((_stage(path, text), path))
        # Renames within the folders the temporary files were just written in: once
        # every file is staged, nothing short of a failing disk stops these.
        for temporary, path in staged:
            os.replace(temporary, path)
    except OSError as error:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


def _stage(path: Path, text: str) -> Path:
    """Write `text` to a new temporary file beside `path` and return the temporary file."""
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(13, "Permission denied", str(path))
    temporary = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if path.exists():
            shutil.copymode(path, temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary
