"""Training data: a CSV or Parquet file read with pandas (pyarrow), checked before fitting.

The columns are chosen by name (``[tool.mlprod.data]``, see `config`): the target, the
features (by default every other column but the id and those dropped). Feature types
are inferred from the data: ``integer`` or ``number`` for numeric columns, ``string``
(categorical, with its allowed values) for the others. Empty cells are missing values;
a feature with any is ``nullable`` and imputed by the model's pipeline.

Columns a model cannot learn from are refused before fitting, all in one message (up to
`MAX_PROBLEMS`): a date-like, all-empty or constant column, a target with gaps or one
class, an unusable name; each names the column and the fix.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Task
from .schema import MISSING_STRING, Feature, InputSchema, Value

MAX_PROBLEMS = 10
"""Problems reported at once; the rest are counted."""
MAX_LISTED = 5
"""Values quoted in a message about a column."""
CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
# 2024-01-31, 2024/01/31, 31/01/2024, 1.31.24, with an optional time: dates, not categories.
_DATE = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T].*)?$")
_DATE_SHARE = 0.8
"""A string column is date-like when this share of its values looks like dates."""


class DatasetError(ValueError):
    """A data file that cannot be trained on; the message names the file and the problem."""


@dataclass(frozen=True)
class Dataset:
    """Features in schema order (NaN or ``""`` where missing) and targets."""

    schema: InputSchema
    X: np.ndarray
    y: np.ndarray


def read_table(path: Path) -> pd.DataFrame:
    """The file as a DataFrame: CSV (empty cells are missing, nothing else) or Parquet."""
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        if suffix in CSV_SUFFIXES:
            # Only empty cells are missing: "NA" or "None" may be real categories.
            return pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such data file") from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: empty file") from None
    except (OSError, ValueError, ImportError) as exc:
        detail = " ".join(str(exc).split())
        raise DatasetError(f"{path}: unreadable data file: {detail}") from None
    raise DatasetError(
        f"{path}: unsupported file type {suffix or '(none)'}; use CSV "
        f"({', '.join(CSV_SUFFIXES)}) or Parquet ({', '.join(PARQUET_SUFFIXES)})"
    )


def read_dataset(
    path: Path,
    target: str,
    *,
    task: Task = "classification",
    features: Sequence[str] = (),
    drop: Sequence[str] = (),
    id_column: str | None = None,
) -> Dataset:
    """Read ``path`` and check it; raise `DatasetError` listing every problem found."""
    frame = read_table(path)
    columns = [str(name) for name in frame.columns]
    frame.columns = pd.Index(columns)
    if target not in columns:
        raise DatasetError(
            f"{path}: no target column {target!r} (columns: {_listed(columns)}); "
            "name it in [tool.mlprod.data] target"
        )
    problems = [
        f"no column {name!r} ([tool.mlprod.data] {key}); columns: {_listed(columns)}"
        for key, names in (("features", features), ("drop", drop), ("id", [id_column or ""]))
        for name in names
        if name and name not in columns
    ]
    excluded = {target, *drop, *([id_column] if id_column else [])}
    names = list(features) or [name for name in columns if name not in excluded]
    if target in features:
        problems.append(f"the target {target!r} is also listed in [tool.mlprod.data] features")
    if not names:
        problems.append("no feature columns left: list some in [tool.mlprod.data] features")
    if frame.empty:
        raise DatasetError(f"{path}: no rows under the header; add data rows")
    inferred: list[Feature] = []
    for name in names:
        if name not in columns:
            continue
        feature, problem = _infer_feature(name, frame[name])
        if problem:
            problems.append(problem)
        elif feature:
            inferred.append(feature)
    problems += _target_problems(frame[target], target, task)
    if problems:
        raise DatasetError(f"{path}: {_joined(problems)}")
    schema = InputSchema(features=tuple(inferred), example=_example(frame, inferred))
    return Dataset(schema=schema, X=_matrix(frame, schema), y=_targets(frame[target], task))


def _infer_feature(name: str, column: pd.Series) -> tuple[Feature | None, str | None]:
    """The feature a column makes, or the problem that stops it (with the fix)."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        return None, (
            f"column {name!r} is not a usable feature name: rename it in snake_case "
            "(letters, digits, underscores) or drop it ([tool.mlprod.data] drop)"
        )
    present = column.dropna()
    if present.empty:
        return None, f"column {name!r} is empty in every row: drop it ([tool.mlprod.data] drop)"
    if pd.api.types.is_datetime64_any_dtype(column) or _looks_like_dates(column, present):
        return None, (
            f"column {name!r} holds dates (e.g. {str(present.iloc[0])!r}): drop it, or turn it "
            "into numbers (e.g. days since an event) in the data file"
        )
    if present.nunique() < 2:
        return None, (
            f"column {name!r} holds one value ({str(present.iloc[0])!r}) in every row: "
            "it teaches the model nothing; drop it ([tool.mlprod.data] drop)"
        )
    nullable = bool(column.isna().any())
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        allowed = tuple(sorted({str(value) for value in present}))
        if MISSING_STRING in allowed:
            return None, f"column {name!r} holds blank strings: leave missing values empty"
        return Feature(name, "string", allowed=allowed, nullable=nullable), None
    numbers = present.to_numpy(dtype=np.float64)
    if not np.isfinite(numbers).all():
        return None, f"column {name!r} holds an infinite number: fix or remove those rows"
    integral = pd.api.types.is_integer_dtype(column) or (
        nullable and bool(np.all(numbers == np.round(numbers)))
    )
    return Feature(name, "integer" if integral else "number", nullable=nullable), None


def _looks_like_dates(column: pd.Series, present: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    sample = present.astype(str).head(200)
    return bool(sample.str.match(_DATE).mean() >= _DATE_SHARE)


def _target_problems(column: pd.Series, target: str, task: Task) -> list[str]:
    problems = []
    missing = np.flatnonzero(column.isna().to_numpy())
    if len(missing):
        problems.append(
            f"the target {target!r} is empty in {len(missing)} rows (the first is data row "
            f"{missing[0] + 1}): fill them in or remove those rows"
        )
    present = column.dropna()
    if task == "regression":
        if not present.empty and not pd.api.types.is_numeric_dtype(column):
            problems.append(
                f"the target {target!r} is not numeric (e.g. {str(present.iloc[0])!r}): "
                'regression predicts numbers; set [tool.mlprod] task = "classification"'
            )
        elif present.nunique() < 2:
            problems.append(f"the target {target!r} holds one value: there is nothing to learn")
    elif present.nunique() < 2:
        found = f" ({str(present.iloc[0])!r})" if not present.empty else ""
        problems.append(
            f"the target {target!r} has one class{found}: classification needs rows of two "
            "or more classes"
        )
    return problems


def _matrix(frame: pd.DataFrame, schema: InputSchema) -> np.ndarray:
    """The features in schema order: float64, or object when any is a string."""
    X = np.empty((len(frame), len(schema.features)), dtype=schema.dtype)
    for index, feature in enumerate(schema.features):
        column = frame[feature.name]
        if feature.type == "string":
            X[:, index] = [
                MISSING_STRING if pd.isna(value) else str(value) for value in column.tolist()
            ]
        else:
            X[:, index] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return X


def _targets(column: pd.Series, task: Task) -> np.ndarray:
    if task == "regression":
        return column.to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy()
    return np.array([str(value) for value in column.tolist()], dtype=object)


def _example(frame: pd.DataFrame, features: Sequence[Feature]) -> dict[str, Value | None]:
    """The first row without gaps (else the first row, with nulls), typed by the schema."""
    names = [feature.name for feature in features]
    complete = frame[names].dropna()
    row = (complete if not complete.empty else frame[names]).iloc[0]
    return {feature.name: _typed(row[feature.name], feature) for feature in features}


def _typed(value: Any, feature: Feature) -> Value | None:
    if pd.isna(value):
        return None
    if feature.type == "integer":
        return int(value)
    if feature.type == "number":
        return float(value)
    return str(value)


def _listed(values: Sequence[str]) -> str:
    shown = ", ".join(repr(value) for value in values[:MAX_LISTED])
    more = len(values) - MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _joined(problems: Sequence[str]) -> str:
    shown = "; ".join(problems[:MAX_PROBLEMS])
    more = len(problems) - MAX_PROBLEMS
    return f"{shown}; and {more} more problems" if more > 0 else shown
