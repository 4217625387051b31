"""An artifact's integrity: its SHA-256, checked against its manifest before it is loaded."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import IntegrityError


def verify_artifact(path: Path, expected_sha256: str) -> None:
    """Raise `IntegrityError` unless ``path`` exists and has the expected SHA-256."""
    try:
        actual = sha256_file(path)
    except FileNotFoundError:
        raise IntegrityError(f"{path}: artifact not found") from None
    if actual != expected_sha256:
        raise IntegrityError(
            f"{path}: SHA-256 {actual} does not match its manifest ({expected_sha256}); "
            "refusing to load it"
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
