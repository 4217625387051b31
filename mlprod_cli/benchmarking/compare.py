"""A result against a baseline, figure by figure: the change, its significance, a verdict.

A figure regresses when it is worse than the baseline by more than the allowed
fraction AND the difference is significant: the two-sided Mann-Whitney U test of the
two runs' samples gives p < `ALPHA`. When the samples are too few for the test to
ever reach `ALPHA` (one peak-memory figure per run, or fewer than four load runs a
side), the threshold alone decides, and the verdict says so. Memory changes smaller
than `MEMORY_FLOOR_BYTES` never count: resident memory moves in pages and allocator
arenas, and a model a few kilobytes larger is not a production concern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlprod_cli.benchmarking.stats import mann_whitney_u, smallest_p_value
from mlprod_cli.errors import UserError

ALPHA = 0.05
MEMORY_FLOOR_BYTES = 1 << 20
REGRESSION = "REGRESSION"


@dataclass(frozen=True)
class Figure:
    """One compared figure of one result: its samples and the value shown for it."""

    key: str
    label: str
    unit: str
    """`s`, `bytes` or `rows/s`."""
    value: float
    samples: tuple[float, ...]
    higher_is_better: bool = False


@dataclass(frozen=True)
class Change:
    """How one figure moved from the baseline to this run."""

    label: str
    unit: str
    baseline: float
    current: float
    relative: float | None
    """(current - baseline) / baseline; None when the baseline is zero."""
    p_value: float | None
    """None when the samples are too few for the test to reach `ALPHA`."""
    verdict: str

    @property
    def regressed(self) -> bool:
        return self.verdict == REGRESSION


@dataclass(frozen=True)
class Comparison:
    """Every figure both results have, and what differs between the two runs' set-ups."""

    changes: list[Change]
    notes: list[str]
    max_regression: float

    @property
    def regressions(self) -> list[Change]:
        return [change for change in self.changes if change.regressed]


def figures(document: Mapping[str, Any]) -> list[Figure]:
    """The figures of a result that a comparison looks at, in display order."""
    load = document["load"]
    found = []
    for key, label, unit in (
        ("load_s", "load time", "s"),
        ("import_s", "import time", "s"),
        ("model_rss_bytes", "model RSS", "bytes"),
        ("model_heap_bytes", "model heap", "bytes"),
    ):
        samples = tuple(load[key]["samples"])
        if samples:
            found.append(Figure(key, label, unit, sum(samples) / len(samples), samples))
    peak = document["memory"]["peak_rss_bytes"]
    if peak is not None:
        found.append(Figure("peak_rss_bytes", "peak RSS", "bytes", peak, (peak,)))
    for batch in document["predict"]:
        size = batch["batch_size"]
        values = tuple(batch["latency_s"]["samples"])
        mean = sum(values) / len(values)
        found.append(Figure(f"latency[{size}]", f"batch {size} latency", "s", mean, values))
        found.append(
            Figure(
                f"rows_per_s[{size}]",
                f"batch {size} rows/s",
                "rows/s",
                size / mean,
                tuple(size / value for value in values),
                higher_is_better=True,
            )
        )
    return found


def compare(
    baseline: Mapping[str, Any], current: Mapping[str, Any], max_regression: float
) -> Comparison:
    """Compare every figure present in both results."""
    before = {figure.key: figure for figure in figures(baseline)}
    changes = [
        change_of(before[figure.key], figure, max_regression)
        for figure in figures(current)
        if figure.key in before
    ]
    return Comparison(
        changes=changes, notes=setup_differences(baseline, current), max_regression=max_regression
    )


def change_of(before: Figure, after: Figure, max_regression: float) -> Change:
    """The change of one figure and its verdict (see the module's docstring)."""
    difference = after.value - before.value
    relative = difference / before.value if before.value else None
    worse_by = -difference if after.higher_is_better else difference
    testable = smallest_p_value(len(before.samples), len(after.samples)) < ALPHA
    p_value = mann_whitney_u(after.samples, before.samples).p_value if testable else None
    if worse_by <= 0:
        significant = p_value is not None and p_value < ALPHA
        verdict = "better" if worse_by < 0 and significant else "ok"
    elif after.unit == "bytes" and abs(difference) < MEMORY_FLOOR_BYTES:
        verdict = "ok (< 1 MiB)"
    elif relative is not None and abs(relative) <= max_regression:
        verdict = "within limit"
    elif p_value is not None and p_value >= ALPHA:
        verdict = "not significant"
    else:
        verdict = REGRESSION
    return Change(
        label=after.label,
        unit=after.unit,
        baseline=before.value,
        current=after.value,
        relative=relative,
        p_value=p_value,
        verdict=verdict,
    )


def setup_differences(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between how the two were measured: a reason to read changes warily."""
    notes = []
    before_env, after_env = baseline["environment"], current["environment"]
    for label, path in (
        ("Python", ("python", "version")),
        ("CPU", ("cpu", "model")),
        ("usable cores", ("cpu", "usable_cores")),
    ):
        old, new = _get(before_env, path), _get(after_env, path)
        if old != new:
            notes.append(f"{label} differs: {old} in the baseline, {new} now")
    old_libs = before_env.get("libraries", {})
    new_libs = after_env.get("libraries", {})
    changed = sorted(
        f"{name} {old_libs.get(name, '-')} -> {new_libs.get(name, '-')}"
        for name in set(old_libs) | set(new_libs)
        if old_libs.get(name) != new_libs.get(name) and name != current["project"]["name"]
    )
    if changed:
        notes.append("libraries differ: " + ", ".join(changed))
    keys = ("runs", "values", "warmups", "min_time_s", "load_runs")
    if any(baseline["settings"].get(k) != current["settings"].get(k) for k in keys):
        notes.append("the settings differ (runs, values, warm-ups, min time or load runs)")
    missing = _batch_sizes(baseline) ^ _batch_sizes(current)
    if missing:
        sizes = ", ".join(map(str, sorted(missing)))
        notes.append(f"batch sizes measured in only one of the two are not compared: {sizes}")
    return notes


def _batch_sizes(document: Mapping[str, Any]) -> set[int]:
    return {batch["batch_size"] for batch in document["predict"]}


def _get(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    for key in path:
        data = data.get(key, {}) if isinstance(data, Mapping) else {}
    return data or None


REGRESSION_EXIT_CODE = 3


class Regressed(UserError):
    """A figure is worse than the baseline beyond `--max-regression`: exit code 3."""

    exit_code = REGRESSION_EXIT_CODE


def verdict(comparison: Comparison) -> str:
    """The comparison's last line; a `Regressed` error when a figure regressed too far."""
    from mlprod_cli.benchmarking.settings import format_percent

    limit = format_percent(comparison.max_regression)
    regressed = comparison.regressions
    if regressed:
        names = "; ".join(change.label for change in regressed)
        count = f"{len(regressed)} figure{'s' if len(regressed) > 1 else ''}"
        raise Regressed(f"{count} regressed by more than {limit}: {names}")
    return f"No figure regressed by more than {limit}."
