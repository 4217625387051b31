"""Whether the artifact on disk is still the one verified when the server started."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ..model.errors import RegistryError
from ..model.integrity import verify_artifact

logger = logging.getLogger(__name__)


class ArtifactWatch:
    """Compares the served version's artifact in the models directory with its manifest.

    The workers serve a verified private copy (`selection.load_verified`), so a file that
    changes on disk takes no worker down; this says that it changed, for readiness, the
    metrics and the log. The file is hashed again only when its size, modification time
    or inode change, so a probe costs a ``stat`` call.
    """

    def __init__(self, artifact: Path, sha256: str) -> None:
        self._artifact = artifact
        self._sha256 = sha256
        self._seen: tuple[int, int, int] | None = None
        self._problem: str | None = None

    def problem(self) -> str | None:
        """Why the file on disk is not the served one; None while it is."""
        try:
            stat = os.stat(self._artifact)
            seen = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        except OSError:
            seen = (-1, -1, -1)
        if seen == self._seen:
            return self._problem
        self._seen = seen
        problem: str | None
        try:
            verify_artifact(self._artifact, self._sha256)
        except (RegistryError, OSError) as exc:
            problem = (
                f"{exc}; serving the copy verified at start, sha256 {self._sha256[:12]}...; "
                "put the file back, or train and serve a new version"
            )
        else:
            problem = None
        if problem != self._problem:
            if problem is None:
                logger.info("model artifact on disk matches its manifest again")
            else:
                logger.error("model artifact changed on disk", extra={"problem": problem})
        self._problem = problem
        return problem


class VersionWatch:
    """Every artifact of the served version: the native one, and the compiled one when the
    manifest lists it (both were verified at start, whichever runtime answers)."""

    def __init__(self, watches: Sequence[ArtifactWatch]) -> None:
        self._watches = list(watches)

    def problem(self) -> str | None:
        """The first file's problem; every file is checked (and logged) each time."""
        problems = [watch.problem() for watch in self._watches]
        return next((problem for problem in problems if problem is not None), None)
