"""Find a project made by `mlprod new` and read what `[tool.mlprod]` says about its model.

A project is the first folder, from a starting point upwards, whose `pyproject.toml`
has a `[tool.mlprod]` table. The lifecycle commands (bump, package, benchmark,
loadtest, update) all start here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli.errors import UserError

PYPROJECT = "pyproject.toml"
CHANGELOG = "CHANGELOG.md"
MODELS = "models"
"""Where the project's registry keeps each version's artifact and `<name>-<version>.json`."""


class NotAProject(UserError):
    """No `pyproject.toml` with a `[tool.mlprod]` table where one was expected."""


@dataclass(frozen=True)
class Project:
    """A generated project: where it is, its names, and its model's version."""

    root: Path
    slug: str
    """The distribution name, `[project] name`: also the project's command."""
    package: str
    """The import package under `src/`, the slug with `_` for `-`."""
    model_name: str
    model_version: str
    """`[tool.mlprod] model_version` as written; `mlprod_cli.versioning` parses it."""

    @property
    def pyproject(self) -> Path:
        return self.root / PYPROJECT

    @property
    def changelog(self) -> Path:
        return self.root / CHANGELOG

    @property
    def models_dir(self) -> Path:
        return self.root / MODELS

    def manifest_path(self, version: str) -> Path:
        """The manifest the registry writes for `version` of the project's model."""
        return self.models_dir / f"{self.model_name}-{version}.json"


def find_project(start: Path) -> Project:
    """The project holding `start`: `start` itself or the nearest folder above it."""
    start = start.resolve()
    for folder in (start, *start.parents):
        data = _read_pyproject(folder / PYPROJECT)
        if data is not None and _table(data, "tool", "mlprod") is not None:
            return _project(folder, data)
    raise NotAProject(
        f"no mlprod project here or above {start}; "
        "run inside a project made by `mlprod new` or pass --project"
    )


def load_project(root: Path) -> Project:
    """The project whose root is `root`, as given with `--project`."""
    if not root.exists():
        raise NotAProject(f"--project {root} does not exist")
    if not root.is_dir():
        raise NotAProject(f"--project {root} is not a folder")
    root = root.resolve()
    pyproject = root / PYPROJECT
    data = _read_pyproject(pyproject)
    if data is None or _table(data, "tool", "mlprod") is None:
        raise NotAProject(
            f"{root} is not an mlprod project: {pyproject} has no [tool.mlprod] table; "
            "pass the folder of a project made by `mlprod new`"
        )
    return _project(root, data)


def package_name(distribution: str) -> str:
    """The import name for a distribution name: `credit-risk-scorer` -> `credit_risk_scorer`."""
    return re.sub(r"[-_.]+", "_", distribution).lower()


def _read_pyproject(path: Path) -> dict[str, Any] | None:
    """`path` parsed, or None when there is no such file."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UserError(f"cannot read {path}: it is not UTF-8 text") from None
    try:
        return tomlkit.parse(text).unwrap()
    except ParseError as error:
        raise UserError(f"{path} is not valid TOML: {error}") from None


def _table(data: Mapping[str, Any], *keys: str) -> Mapping[str, Any] | None:
    """The table at `keys` (`"tool", "mlprod"` for `[tool.mlprod]`), if there is one."""
    table: Any = data
    for key in keys:
        table = table.get(key) if isinstance(table, Mapping) else None
    return table if isinstance(table, Mapping) else None


def _project(root: Path, data: Mapping[str, Any]) -> Project:
    pyproject = root / PYPROJECT
    mlprod = _table(data, "tool", "mlprod") or {}
    slug = _string(_table(data, "project") or {}, "name", "[project]", pyproject)
    return Project(
        root=root,
        slug=slug,
        package=package_name(slug),
        model_name=_string(mlprod, "model_name", "[tool.mlprod]", pyproject),
        model_version=_string(mlprod, "model_version", "[tool.mlprod]", pyproject),
    )


def _string(table: Mapping[str, Any], key: str, where: str, pyproject: Path) -> str:
    value = table.get(key)
    if value is None:
        raise UserError(f"{pyproject} has no {key} in {where}")
    if not isinstance(value, str):
        raise UserError(f"{pyproject}: {where} {key} must be a string, got {value!r}")
    return value
