"""Find a project made by `mlprod new` and read its `[tool.mlprod]` table, once.

A project is the first folder, from a starting point upwards, whose `pyproject.toml`
has a `[tool.mlprod]` table. The lifecycle commands (bump, package, benchmark,
loadtest, check, diff, update) all start here, through `resolve_project` (the
`--project` option) and, when they run the project's code, `project_python` (`--python`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    """`[tool.mlprod] model_version` as written; `mlprod_cli.release.versioning` parses it."""
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The whole `[tool.mlprod]` table as read; the properties below check what they use."""

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

    @property
    def data_path(self) -> Path | None:
        """`[tool.mlprod.data] path`, relative to the project, when the project sets it."""
        table = self.settings.get("data")
        value = table.get("path") if isinstance(table, Mapping) else None
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise UserError(
                f"{self.pyproject}: [tool.mlprod.data] path must be a file path, "
                f'e.g. path = "data/train.csv"'
            )
        return self.root / value

    @property
    def update_skip(self) -> list[str]:
        """`[tool.mlprod.update] skip`: path patterns that `mlprod update` never touches."""
        table = self.settings.get("update")
        skip = table.get("skip", []) if isinstance(table, Mapping) else []
        if not isinstance(skip, list) or not all(isinstance(item, str) for item in skip):
            raise UserError(
                f"{self.pyproject}: [tool.mlprod.update] skip must be a list of path patterns, "
                f'e.g. skip = ["Dockerfile", "docs/*"]'
            )
        return list(skip)


def resolve_project(option: Path | None) -> Project:
    """The project a command works on: `--project` when given, else the one holding `.`."""
    return load_project(option) if option is not None else find_project(Path.cwd())


def project_python(project: Project, python: Path | None) -> Path:
    """`--python` as given, or the project's `.venv` interpreter; it must exist."""
    from mlprod_cli.project.environment import venv_python

    if python is None:
        venv = project.root / ".venv"
        candidate = venv_python(venv)
        if not candidate.exists():
            install = f"uv pip install --python {candidate} -e '{project.root}[dev]'"
            raise UserError(
                f"no virtual environment at {venv}; create one with the project installed "
                f"(`uv venv {venv} && {install}`) or pass --python"
            )
        return candidate
    if not python.exists():
        raise UserError(f"--python {python} does not exist")
    if python.is_dir():
        raise UserError(
            f"--python {python} is a folder; give the interpreter, e.g. .venv/bin/python"
        )
    # The project's code runs in the project's folder: a relative path must not change meaning.
    return python.absolute()


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
        settings=mlprod,
    )


def _string(table: Mapping[str, Any], key: str, where: str, pyproject: Path) -> str:
    value = table.get(key)
    if value is None:
        raise UserError(f"{pyproject} has no {key} in {where}")
    if not isinstance(value, str):
        raise UserError(f"{pyproject}: {where} {key} must be a string, got {value!r}")
    return value
