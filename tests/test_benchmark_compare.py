"""A benchmark result against a baseline, on recorded results (no timing happens here).

`credit-risk-scorer-0.1.0.json` was recorded by `mlprod benchmark --json` on the 2-core
development machine. The "slower" and "equal" results are derived from it below, so
what changed between the two is plain to see.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mlprod_cli.benchmarking.compare import Figure, change_of, compare, figures

FIXTURES = Path(__file__).parent / "fixtures" / "benchmark"
RECORDED = FIXTURES / "credit-risk-scorer-0.1.0.json"
TIMINGS = ("load_s", "import_s", "process_s")


def recorded() -> dict[str, Any]:
    return json.loads(RECORDED.read_text())


def derived(factor: float, version: str = "0.2.0") -> dict[str, Any]:
    """The recorded result with every timing sample multiplied by `factor`."""
    result = copy.deepcopy(recorded())
    result["model"]["version"] = version
    for key in TIMINGS:
        result["load"][key]["samples"] = [v * factor for v in result["load"][key]["samples"]]
    for batch in result["predict"]:
        batch["latency_s"]["samples"] = [v * factor for v in batch["latency_s"]["samples"]]
    return result


def test_the_recorded_result_has_every_compared_figure() -> None:
    keys = [figure.key for figure in figures(recorded())]
    assert keys == [
        "load_s",
        "import_s",
        "model_rss_bytes",
        "model_heap_bytes",
        "peak_rss_bytes",
        "latency[1]",
        "rows_per_s[1]",
        "latency[64]",
        "rows_per_s[64]",
    ]


def test_a_slower_result_regresses() -> None:
    comparison = compare(recorded(), derived(1.5), max_regression=0.10)
    regressed = {change.label for change in comparison.regressions}
    assert {"batch 1 latency", "batch 1 rows/s", "batch 64 latency", "batch 64 rows/s"} <= regressed
    latency = next(c for c in comparison.changes if c.label == "batch 1 latency")
    assert latency.relative == pytest.approx(0.5)
    assert latency.p_value is not None and latency.p_value < 0.05


def test_an_equal_result_does_not_regress() -> None:
    comparison = compare(recorded(), derived(1.0), max_regression=0.10)
    assert comparison.regressions == []
    assert {change.verdict for change in comparison.changes} == {"ok"}
    assert all(change.relative == 0 for change in comparison.changes)


def test_a_slower_result_within_the_allowed_regression_passes() -> None:
    comparison = compare(recorded(), derived(1.5), max_regression=0.60)
    assert comparison.regressions == []


def test_a_faster_result_is_better_not_a_regression() -> None:
    comparison = compare(recorded(), derived(0.5), max_regression=0.10)
    assert comparison.regressions == []
    latency = next(c for c in comparison.changes if c.label == "batch 1 latency")
    assert latency.verdict == "better"


def figure(samples: tuple[float, ...], unit: str = "s") -> Figure:
    return Figure("x", "x", unit, sum(samples) / len(samples), samples)


def test_a_worse_but_insignificant_difference_is_not_a_regression() -> None:
    before = figure((1.0, 2.0, 3.0, 4.0, 5.0, 6.0))
    after = figure((1.5, 2.5, 3.5, 4.5, 5.5, 6.5))  # +14%, but the samples overlap
    change = change_of(before, after, max_regression=0.10)
    assert change.verdict == "not significant"
    assert change.p_value is not None and change.p_value > 0.05


def test_with_too_few_samples_the_threshold_alone_decides() -> None:
    change = change_of(figure((1.0, 1.1)), figure((2.0, 2.1)), max_regression=0.10)
    assert (change.p_value, change.verdict) == (None, "REGRESSION")


def test_memory_changes_under_one_mib_never_regress() -> None:
    small = change_of(figure((10_000.0,), "bytes"), figure((20_000.0,), "bytes"), 0.10)
    assert small.verdict == "ok (< 1 MiB)"
    large = change_of(figure((100e6,), "bytes"), figure((150e6,), "bytes"), 0.10)
    assert large.verdict == "REGRESSION"


def test_different_set_ups_are_noted() -> None:
    current = derived(1.0)
    current["environment"]["python"]["version"] = "3.12.1"
    current["environment"]["libraries"]["numpy"] = "9.0.0"
    current["environment"]["libraries"]["credit-risk-scorer"] = "0.2.0"  # the project itself
    current["predict"] = current["predict"][:1]
    notes = compare(recorded(), current, 0.10).notes
    assert notes == [
        "Python differs: 3.11.7 in the baseline, 3.12.1 now",
        "libraries differ: numpy 2.4.6 -> 9.0.0",
        "batch sizes measured in only one of the two are not compared: 64",
    ]
