"""`.mlprod.json`: which template, at which version, with which answers, made a project.

`mlprod update` reads it to render the template a project was made from, and the
template of today, with the same answers. An update that stops on conflicts adds a
`pending_update` entry (the version and answers to record once they are resolved);
files without it, as every format-1 file is, read as they always did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlprod_cli.errors import UserError

FILENAME = ".mlprod.json"
FORMAT = 1


class ProvenanceError(UserError):
    """A project without a readable `.mlprod.json`."""


@dataclass(frozen=True)
class PendingUpdate:
    """An update that stopped on conflicts: what `.mlprod.json` records once they are gone."""

    template_version: str
    answers: dict[str, Any]
    conflicts: list[str]
    """The files, relative to the project, that were left with conflicts."""


@dataclass(frozen=True)
class Provenance:
    """What made a project: the answers, mlprod's version and the template's version."""

    mlprod_version: str
    template_version: str
    answers: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT
    pending_update: PendingUpdate | None = None

    def to_text(self) -> str:
        """The file's text: sorted keys, and no `pending_update` key when there is none."""
        data = asdict(self)
        if self.pending_update is None:
            del data["pending_update"]
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def write(self, project_dir: Path) -> Path:
        """Write `.mlprod.json` into `project_dir` and return its path."""
        path = project_dir / FILENAME
        path.write_text(self.to_text(), encoding="utf-8")
        return path

    @classmethod
    def read(cls, project_dir: Path) -> Provenance:
        """Read a project's `.mlprod.json`; a missing or malformed file is a `ProvenanceError`."""
        path = project_dir / FILENAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProvenanceError(
                f"{project_dir} has no {FILENAME}, the record of the template and answers "
                "that made it; see `mlprod update`'s documentation to write one"
            ) from None
        except OSError as error:
            raise ProvenanceError(f"cannot read {path}: {error.strerror or error}") from None
        except ValueError as error:
            raise ProvenanceError(f"{path} is not valid JSON: {error}") from None
        if not isinstance(data, Mapping):
            raise ProvenanceError(f"{path} must hold a JSON object")
        pending = data.get("pending_update")
        return cls(
            mlprod_version=_text(data, "mlprod_version", path),
            template_version=_text(data, "template_version", path),
            answers=_mapping(data, "answers", path),
            format=data.get("format", FORMAT),
            pending_update=None if pending is None else _pending(pending, path),
        )


def _pending(data: Any, path: Path) -> PendingUpdate:
    if not isinstance(data, Mapping):
        raise ProvenanceError(f"{path}: pending_update must be a JSON object")
    conflicts = data.get("conflicts", [])
    if not isinstance(conflicts, list) or not all(isinstance(item, str) for item in conflicts):
        raise ProvenanceError(f"{path}: pending_update.conflicts must be a list of paths")
    return PendingUpdate(
        template_version=_text(data, "template_version", path, "pending_update."),
        answers=_mapping(data, "answers", path, "pending_update."),
        conflicts=list(conflicts),
    )


def _text(data: Mapping[str, Any], key: str, path: Path, prefix: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ProvenanceError(f"{path} has no {prefix}{key} (a version string)")
    return value


def _mapping(data: Mapping[str, Any], key: str, path: Path, prefix: str = "") -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ProvenanceError(f"{path} has no {prefix}{key} (a JSON object of answers)")
    return dict(value)
