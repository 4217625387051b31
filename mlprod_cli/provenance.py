"""`.mlprod.json`: which template, at which version, with which answers, made a project.

`mlprod update` reads it to render the template a project was made from, and the
template of today, with the same answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FILENAME = ".mlprod.json"
FORMAT = 1


@dataclass(frozen=True)
class Provenance:
    """What made a project: the answers, mlprod's version and the template's version."""

    mlprod_version: str
    template_version: str
    answers: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    def write(self, project_dir: Path) -> Path:
        """Write `.mlprod.json` into `project_dir` and return its path."""
        path = project_dir / FILENAME
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, project_dir: Path) -> Provenance:
        """Read a project's `.mlprod.json`."""
        data: Mapping[str, Any] = json.loads((project_dir / FILENAME).read_text(encoding="utf-8"))
        return cls(
            mlprod_version=data["mlprod_version"],
            template_version=data["template_version"],
            answers=dict(data["answers"]),
            format=data.get("format", FORMAT),
        )
