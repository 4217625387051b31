"""The offline drift report: the service's prediction log, or a data file, against a profile.

``<project> drift LOGS|FILE`` scores each feature (and, from a log, the predictions) with
the same PSI, bins and thresholds as the live metrics (`model.profile`). A log line of a
prediction carries its instances (``inputs``: all of them up to ten a request, else ten
evenly spaced with ``inputs_sampled``; each logged row then counts for
``instances / len(inputs)`` rows) and, up to ten a request, its predictions.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .model.data import CSV_SUFFIXES, PARQUET_SUFFIXES, DatasetError, read_table
from .model.manifest import Manifest
from .model.profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    Profile,
    drift_threshold,
    expected_shares,
    psi,
    status,
)
from .model.schema import MISSING_STRING


class DriftError(ValueError):
    """Input the report cannot be made from; the message names it and the fix."""


@dataclass(frozen=True)
class Observed:
    """Values of every feature (schema order) with a weight per row, and predictions."""

    rows: list[list[Any]]
    weights: list[float]
    predictions: list[Any]
    versions: Counter[str]


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    psi: float | None
    threshold: float
    status: str
    rows: float
    missing: float
    out_of_range: float
    labels: list[str]
    expected: list[float]
    actual: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "psi": self.psi,
            "threshold": self.threshold,
            "status": self.status,
            "rows": self.rows,
            "missing": self.missing,
            "out_of_range": self.out_of_range,
            "bins": [
                {"bin": label, "expected": e, "actual": a}
                for label, e, a in zip(self.labels, self.expected, self.actual, strict=True)
            ],
        }


@dataclass(frozen=True)
class Report:
    source: str
    version: str
    features: list[ColumnDrift]
    predictions: ColumnDrift | None

    @property
    def drifted(self) -> list[str]:
        return [column.name for column in self.features if column.status == "drifted"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "model_version": self.version,
            "drifted": self.drifted,
            "features": [column.to_dict() for column in self.features],
            "predictions": None if self.predictions is None else self.predictions.to_dict(),
        }

    def table(self) -> str:
        header = ["FEATURE", "PSI", "THRESHOLD", "STATUS", "ROWS", "MISSING", "OUT OF RANGE"]
        lines = [header]
        for column in [*self.features, *([self.predictions] if self.predictions else [])]:
            lines.append(
                [
                    column.name,
                    "-" if column.psi is None else f"{column.psi:.4f}",
                    f"{column.threshold:.4f}" if column.threshold != float("inf") else "-",
                    column.status,
                    f"{column.rows:g}",
                    f"{column.missing:g}",
                    f"{column.out_of_range:g}",
                ]
            )
        widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
        text = "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in lines
        )
        verdict = f"drifted: {', '.join(self.drifted)}" if self.drifted else "no feature drifted"
        return f"{self.source} against {self.version}'s training profile\n{text}\n{verdict}"


def is_data_file(path: Path) -> bool:
    return path.suffix.lower() in CSV_SUFFIXES + PARQUET_SUFFIXES


def read_log(path: Path, version: str | None = None) -> Observed:
    """The instances and predictions of the successful predictions in a JSON-lines log."""
    rows: list[list[Any]] = []
    weights: list[float] = []
    predictions: list[Any] = []
    versions: Counter[str] = Counter()
    for entry in _entries(path):
        if entry.get("path") != "/v1/predict" or entry.get("status") != 200:
            continue
        inputs = entry.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            continue
        logged_version = str(entry.get("model_version", ""))
        if version is not None and logged_version != version:
            continue
        versions[logged_version] += 1
        weight = float(entry.get("instances", len(inputs))) / len(inputs)
        rows.extend(inputs)
        weights.extend([weight] * len(inputs))
        predictions.extend(entry.get("predictions") or [])
    if not rows:
        raise DriftError(
            f"{path}: no logged prediction with its inputs"
            + (f" by version {version}" if version else "")
            + "; give the service's standard output (JSON lines), or a CSV or Parquet file"
        )
    return Observed(rows, weights, predictions, versions)


def read_data(path: Path, manifest: Manifest) -> Observed:
    """The rows of a CSV or Parquet file, by the manifest's feature names."""
    try:
        table = read_table(path)
    except DatasetError as exc:
        raise DriftError(str(exc)) from None
    names = manifest.input_schema.names
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise DriftError(
            f"{path}: no column {missing[0]!r}; the file needs the model's features "
            f"({', '.join(names)})"
        )
    frame = table[list(names)].astype(object).where(table[list(names)].notna(), None)
    rows = frame.to_numpy().tolist()
    return Observed(rows, [1.0] * len(rows), [], Counter({manifest.version: len(rows)}))


def report(source: str, manifest: Manifest, observed: Observed) -> Report:
    profile = manifest.profile
    if profile is None:
        raise DriftError(
            f"{manifest.name} {manifest.version} has no training profile (trained before "
            "drift monitoring): train a new version"
        )
    weights = np.asarray(observed.weights, dtype=np.float64)
    features = []
    for index, name in enumerate(manifest.input_schema.names):
        column = profile.features[name]
        values = [row[index] for row in observed.rows]
        features.append(_column(name, column, values, weights))
    predictions = None
    if observed.predictions:
        ones = np.ones(len(observed.predictions))
        predictions = _column("(predictions)", profile.predictions, observed.predictions, ones)
    return Report(source, manifest.version, features, predictions)


def _column(
    name: str, column: ColumnProfile, values: list[Any], weights: np.ndarray
) -> ColumnDrift:
    absent = np.asarray([value is None or value == MISSING_STRING for value in values])
    present_weights = weights[~absent]
    out_of_range = 0.0
    if isinstance(column, NumericProfile):
        numbers = np.asarray(
            [np.nan if value is None else float(value) for value in values], dtype=np.float64
        )
        numbers = numbers[~absent]
        absent_nan = np.isnan(numbers)
        numbers, present_weights = numbers[~absent_nan], present_weights[~absent_nan]
        counts = np.bincount(
            column.bin_of(numbers), weights=present_weights, minlength=len(column.edges) + 1
        ).tolist()
        outside = (numbers < column.min) | (numbers > column.max)
        out_of_range = float(present_weights[outside].sum())
        missing = float(weights.sum() - present_weights.sum())
    else:
        counts = _categorical_counts(column, values, weights)
        missing = float(weights[absent].sum())
    expected = expected_shares(column)
    total = float(sum(counts))
    score = psi(expected, counts)
    # sampled rows count for several, but are no more informative: the noise of the rows
    # actually seen (Kish's effective sample size) decides the threshold
    squares = float((present_weights**2).sum()) if isinstance(column, NumericProfile) else 0.0
    seen = total**2 / squares if squares > 0 else total
    return ColumnDrift(
        name=name,
        psi=score,
        threshold=drift_threshold(column, seen),
        status=status(score, column, seen),
        rows=round(float(weights.sum()), 3),
        missing=round(missing, 3),
        out_of_range=round(out_of_range, 3),
        labels=column.bin_labels(),
        expected=expected,
        actual=[count / total if total else 0.0 for count in counts],
    )


def _categorical_counts(
    column: CategoricalProfile, values: list[Any], weights: np.ndarray
) -> list[float]:
    position = {key: index for index, key in enumerate(column.shares)}
    counts = [0.0] * (len(position) + 1)
    for value, weight in zip(values, weights, strict=True):
        if value is None or value == MISSING_STRING:
            continue
        counts[position.get(str(value), len(position))] += float(weight)
    return counts


def _entries(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if not line.startswith("{"):
                    continue  # uWSGI's own lines share the stream
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("message") == "request":
                    yield entry
    except OSError as exc:
        raise DriftError(f"{path}: cannot read it ({exc.strerror or exc})") from None


# HTML -----------------------------------------------------------------------------------

_WIDTH, _HEIGHT = 360, 120
_COLOURS = {"expected": "#9aa5b1", "actual": "#3f51b5"}
_STYLE = """
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
tr.drifted { background: #fdd; } tr.moderate { background: #ffe9c4; }
figure { display: inline-block; margin: 1em; }
"""


def html_report(report: Report, profile: Profile) -> str:
    """A self-contained page: the table, then per column the training and observed shares
    per bin as bars (inline SVG: no plotting library, no script, no network)."""
    columns = [*report.features, *([report.predictions] if report.predictions else [])]
    rows = "".join(
        f"<tr class='{c.status.replace(' ', '-')}'><td>{html.escape(c.name)}</td>"
        f"<td>{'-' if c.psi is None else f'{c.psi:.4f}'}</td><td>{c.threshold:.4f}</td>"
        f"<td>{c.status}</td><td>{c.rows:g}</td><td>{c.missing:g}</td>"
        f"<td>{c.out_of_range:g}</td></tr>"
        for c in columns
    )
    plots = "".join(
        f"<figure><figcaption>{html.escape(c.name)}: PSI "
        f"{'-' if c.psi is None else f'{c.psi:.3f}'} ({c.status})</figcaption>{_bars(c)}</figure>"
        for c in columns
    )
    title = html.escape(report.source)
    return (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>Drift: {title}"
        f"</title>\n<style>{_STYLE}</style></head><body>\n<h1>Drift report</h1>\n"
        f"<p>{title} against the training profile of version {html.escape(report.version)} "
        f"({profile.rows} training rows). PSI above its threshold (0.25, or the sampling noise "
        "of the rows seen when larger) is drift. Grey: training share per bin; blue: observed "
        "share.</p>\n<table><tr><th>Feature</th><th>PSI</th><th>Threshold</th><th>Status</th>"
        f"<th>Rows</th><th>Missing</th><th>Out of range</th></tr>{rows}</table>\n{plots}\n"
        "</body></html>\n"
    )


def _bars(column: ColumnDrift) -> str:
    count = len(column.labels)
    slot = _WIDTH / max(count, 1)
    top = max([*column.expected, *column.actual, 1e-9])
    shapes = []
    for index, (label, expected, actual) in enumerate(
        zip(column.labels, column.expected, column.actual, strict=True)
    ):
        x = index * slot
        for offset, (kind, share) in enumerate((("expected", expected), ("actual", actual))):
            height = share / top * (_HEIGHT - 20)
            shapes.append(
                f"<rect x='{x + 2 + offset * slot / 2:.1f}' y='{_HEIGHT - 20 - height:.1f}' "
                f"width='{slot / 2 - 3:.1f}' height='{height:.1f}' fill='{_COLOURS[kind]}'>"
                f"<title>{html.escape(label)} {kind}: {share:.3f}</title></rect>"
            )
        shapes.append(
            f"<text x='{x + slot / 2:.1f}' y='{_HEIGHT - 5}' font-size='8' "
            f"text-anchor='middle'>{html.escape(label[:14])}</text>"
        )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' height='{_HEIGHT}' "
        f"role='img'>{''.join(shapes)}</svg>"
    )
