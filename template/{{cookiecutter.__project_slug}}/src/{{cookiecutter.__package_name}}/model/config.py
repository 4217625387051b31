"""The project's model settings: ``[tool.mlprod]`` of its ``pyproject.toml``, read once.

::

    [tool.mlprod]
    model_name = "churn"
    model_version = "0.1.0"
    task = "classification"          # or "regression"

    [tool.mlprod.data]
    path = "data/churn.csv"          # CSV or Parquet, relative to the project
    target = "churned"               # the column to predict, by name
    features = []                    # optional: only these columns (default: all others)
    drop = ["signup_date"]           # optional: columns never used as features
    id = "customer_id"               # optional: an identifier column, never a feature

    [tool.mlprod.model.params]       # passed to build() in model/estimator.py
    max_iter = 1000
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from .thresholds import Thresholds, ThresholdsError, from_mlprod_table

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = get_args(Task)


class ProjectConfigError(ValueError):
    """No project configuration (``[tool.mlprod]`` in ``pyproject.toml``) could be read."""


@dataclass(frozen=True)
class DataConfig:
    """``[tool.mlprod.data]``: which file to train on and how to read its columns."""

    path: Path
    """The data file (CSV or Parquet), absolute (resolved against the project)."""
    target: str
    features: tuple[str, ...] = ()
    """The feature columns in order; empty means every column but the target, id and drop."""
    drop: tuple[str, ...] = ()
    id: str | None = None


@dataclass(frozen=True)
class ProjectConfig:
    """The model settings of a project, from ``[tool.mlprod]`` in its ``pyproject.toml``."""

    root: Path
    model_name: str
    model_version: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    """``[tool.mlprod.thresholds]``: what a model must meet to be registered and served."""
    task: Task = "classification"
    data: DataConfig | None = None
    """``[tool.mlprod.data]``; None when the table is absent (``train --data`` then needs a
    target from elsewhere)."""
    params: dict[str, Any] = field(default_factory=dict)
    """``[tool.mlprod.model.params]``: the estimator's hyper-parameters."""


def find_project_config(start: Path | None = None) -> ProjectConfig:
    """Read ``[tool.mlprod]`` from the nearest ``pyproject.toml`` at or above ``start``."""
    directory = (start or Path.cwd()).resolve()
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            return read_project_config(pyproject)
    raise ProjectConfigError(f"no pyproject.toml in {directory} or any parent directory")


def read_project_config(pyproject: Path) -> ProjectConfig:
    try:
        table = _mlprod_table(pyproject)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectConfigError(f"{pyproject}: {exc}") from None
    if not isinstance(table, dict):
        raise ProjectConfigError(f"{pyproject}: no [tool.mlprod] table")
    task = table.get("task", "classification")
    if task not in TASKS:
        raise ProjectConfigError(
            f"{pyproject}: [tool.mlprod] task {task!r} is not one of {', '.join(TASKS)}"
        )
    model = _table(pyproject, table, "model", "[tool.mlprod.model]")
    return ProjectConfig(
        root=pyproject.parent,
        model_name=_required_string(pyproject, table, "model_name"),
        model_version=_required_string(pyproject, table, "model_version"),
        thresholds=_thresholds(pyproject, table),
        task=cast(Task, task),
        data=_data(pyproject, table),
        params=dict(_table(pyproject, model, "params", "[tool.mlprod.model.params]")),
    )


def read_project_thresholds(pyproject: Path) -> Thresholds | None:
    """The thresholds of the project whose ``pyproject.toml`` is at ``pyproject``.

    None when there is no such file or it has no ``[tool.mlprod]`` table (it belongs to
    no mlprod project), so the caller falls back on the manifest's; a project without
    ``[tool.mlprod.thresholds]`` has no bounds.
    """
    try:
        mlprod = _mlprod_table(pyproject)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThresholdsError(f"{pyproject}: {exc}") from None
    if not isinstance(mlprod, dict):
        return None
    return from_mlprod_table(mlprod, pyproject)


def _mlprod_table(pyproject: Path) -> object:
    """``[tool.mlprod]`` of ``pyproject`` as read, or None; the one place the file is read."""
    with pyproject.open("rb") as file:
        mlprod: object = tomllib.load(file).get("tool", {}).get("mlprod")
    return mlprod


def _data(pyproject: Path, mlprod: dict[str, Any]) -> DataConfig | None:
    if "data" not in mlprod:
        return None
    table = _table(pyproject, mlprod, "data", "[tool.mlprod.data]")
    where = f"{pyproject}: [tool.mlprod.data]"
    path = table.get("path")
    target = table.get("target")
    if not isinstance(path, str) or not path:
        raise ProjectConfigError(f'{where} path must name the data file, e.g. "data/train.csv"')
    if not isinstance(target, str) or not target:
        raise ProjectConfigError(f"{where} target must name the column to predict")
    id_column = table.get("id")
    if id_column is not None and (not isinstance(id_column, str) or not id_column):
        raise ProjectConfigError(f"{where} id must name a column, or be left out")
    unknown = sorted(set(table) - {"path", "target", "features", "drop", "id"})
    if unknown:
        raise ProjectConfigError(
            f"{where} has unknown keys {', '.join(unknown)} "
            "(it takes path, target, features, drop, id)"
        )
    return DataConfig(
        path=(pyproject.parent / path).resolve(),
        target=target,
        features=_names(where, table, "features"),
        drop=_names(where, table, "drop"),
        id=id_column,
    )


def _names(where: str, table: dict[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProjectConfigError(f'{where} {key} must be a list of column names, e.g. ["age"]')
    return tuple(value)


def _table(pyproject: Path, parent: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise ProjectConfigError(f"{pyproject}: {name} must be a table")
    return value


def _thresholds(pyproject: Path, table: dict[str, object]) -> Thresholds:
    try:
        return from_mlprod_table(table, pyproject)
    except ThresholdsError as exc:
        raise ProjectConfigError(str(exc)) from None


def _required_string(pyproject: Path, table: dict[str, object], key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ProjectConfigError(f"{pyproject}: [tool.mlprod] {key} must be a non-empty string")
    return value
