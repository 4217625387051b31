"""Training: read a CSV, fit the model, evaluate it on held-out rows, register it.

The CSV's first row names the columns; the last column is the target, every other
column is a feature. Column types are inferred: ``integer`` or ``number`` when every
value parses as one, otherwise ``string`` (categorical, with its allowed values).
"""

from __future__ import annotations

import csv
import keyword
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from . import registry
from .predictor import Predictor
from .schema import Feature, InputSchema, Value
from .thresholds import Thresholds, ThresholdsError, from_mlprod_table

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

DEFAULT_SEED = 42
TEST_SIZE = 0.2


class DatasetError(ValueError):
    """A data file that cannot be trained on; the message names the file and the problem."""


class ProjectConfigError(ValueError):
    """No project configuration (``[tool.mlprod]`` in ``pyproject.toml``) could be read."""


@dataclass(frozen=True)
class ProjectConfig:
    """The model settings of a project, from ``[tool.mlprod]`` in its ``pyproject.toml``."""

    root: Path
    model_name: str
    model_version: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    """``[tool.mlprod.thresholds]``: what a model must meet to be registered and served."""


@dataclass(frozen=True)
class Dataset:
    """Features in schema order and targets, read from one CSV file."""

    schema: InputSchema
    X: np.ndarray
    y: np.ndarray


def find_project_config(start: Path | None = None) -> ProjectConfig:
    """Read ``[tool.mlprod]`` from the nearest ``pyproject.toml`` at or above ``start``."""
    directory = (start or Path.cwd()).resolve()
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            return _read_project_config(pyproject)
    raise ProjectConfigError(f"no pyproject.toml in {directory} or any parent directory")


def read_dataset(path: Path) -> Dataset:
    """Read a training CSV, inferring the input schema from its columns."""
    header, rows = _read_csv(path)
    feature_rows = [row[:-1] for row in rows]
    columns = zip(*feature_rows, strict=True)
    features = tuple(
        _infer_feature(path, name, column)
        for name, column in zip(header[:-1], columns, strict=True)
    )
    typed_rows = [
        [_typed(value, f) for f, value in zip(features, row, strict=True)] for row in feature_rows
    ]
    example = {f.name: value for f, value in zip(features, typed_rows[0], strict=True)}
    schema = InputSchema(features=features, example=example)
    y = np.array([row[-1] for row in rows])
    if len(np.unique(y)) < 2:
        raise DatasetError(f"{path}: the target column {header[-1]!r} needs two or more classes")
    return Dataset(schema=schema, X=np.array(typed_rows, dtype=schema.dtype), y=y)


def train(
    data_path: Path,
    models_dir: Path,
    model_name: str,
    version: str,
    seed: int = DEFAULT_SEED,
    thresholds: Thresholds | None = None,
) -> registry.Manifest:
    """Train a new model version on ``data_path`` and register it in ``models_dir``.

    An existing version is refused before any work is done. A model whose held-out
    metrics fail ``thresholds`` is not registered (`registry.ValidityError`), so the
    version stays free for a better model; those it meets are recorded in the manifest.
    """
    registry.ensure_new_version(models_dir, model_name, version, Predictor)
    dataset = read_dataset(data_path)
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            dataset.X, dataset.y, test_size=TEST_SIZE, random_state=seed, stratify=dataset.y
        )
    except ValueError as exc:
        raise DatasetError(f"{data_path}: cannot split it for evaluation: {exc}") from None
    model = Predictor(categorical_features=dataset.schema.categorical, random_state=seed)
    model.fit(X_train, y_train)
    predicted = model.predict(X_test)
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 6),
        "f1_macro": round(float(f1_score(y_test, predicted, average="macro")), 6),
    }
    gate = thresholds if thresholds is not None else Thresholds()
    failures = gate.violations(metrics)
    if failures:
        raise registry.ValidityError(
            f"{model_name} {version} fails its thresholds ({gate.source}): "
            f"{'; '.join(failures)}; not registered: improve the model or its data, "
            "or change the threshold, then train again"
        )
    return registry.save(
        models_dir,
        model,
        name=model_name,
        version=version,
        data=registry.TrainingData(
            file=data_path.name, sha256=registry.sha256_file(data_path), rows=len(dataset.y)
        ),
        split=registry.Split(
            seed=seed, test_size=TEST_SIZE, train_rows=len(y_train), test_rows=len(y_test)
        ),
        metrics=metrics,
        input_schema=dataset.schema,
        output=registry.Output(task="classification", classes=np.unique(dataset.y).tolist()),
        thresholds=gate.to_dict(),
    )


def _read_project_config(pyproject: Path) -> ProjectConfig:
    try:
        with pyproject.open("rb") as file:
            table = tomllib.load(file).get("tool", {}).get("mlprod")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectConfigError(f"{pyproject}: {exc}") from None
    if not isinstance(table, dict):
        raise ProjectConfigError(f"{pyproject}: no [tool.mlprod] table")
    return ProjectConfig(
        root=pyproject.parent,
        model_name=_required_string(pyproject, table, "model_name"),
        model_version=_required_string(pyproject, table, "model_version"),
        thresholds=_thresholds(pyproject, table),
    )


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


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the non-blank rows of ``path``, each row as long as the header."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            lines = [(reader.line_num, row) for row in reader if row]
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such data file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: unreadable CSV: {exc}") from None
    if not lines:
        raise DatasetError(f"{path}: empty file")
    (_, header), *body = lines
    _check_header(path, header)
    if not body:
        raise DatasetError(f"{path}: no data rows under the header")
    for line, row in body:
        if len(row) != len(header):
            raise DatasetError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        for name, value in zip(header, row, strict=True):
            if not value.strip():
                raise DatasetError(f"{path}:{line}: empty value in column {name!r}")
    return header, [row for _, row in body]


def _check_header(path: Path, header: Sequence[str]) -> None:
    if len(header) < 2:
        raise DatasetError(f"{path}: needs feature columns and a target column (the last one)")
    if len(set(header)) != len(header):
        raise DatasetError(f"{path}: duplicate column names in the header")
    for name in header[:-1]:
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise DatasetError(
                f"{path}: column {name!r} is not a usable feature name "
                "(use snake_case: letters, digits, underscores)"
            )


def _infer_feature(path: Path, name: str, values: Sequence[str]) -> Feature:
    numbers = [_as_float(value) for value in values]
    if any(number is None for number in numbers):
        return Feature(name=name, type="string", allowed=tuple(sorted(set(values))))
    if not all(math.isfinite(number) for number in numbers if number is not None):
        raise DatasetError(f"{path}: column {name!r} holds a non-finite number")
    if all(value.strip().lstrip("+-").isdigit() for value in values):
        return Feature(name=name, type="integer")
    return Feature(name=name, type="number")


def _as_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _typed(value: str, feature: Feature) -> Value:
    if feature.type == "integer":
        return int(value)
    if feature.type == "number":
        return float(value)
    return value
