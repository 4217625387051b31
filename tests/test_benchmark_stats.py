"""The benchmark's statistics: summaries, outliers, pyperf's stability checks, Mann-Whitney U."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from mlprod_cli.benchmarking.stats import (
    count_outliers,
    mann_whitney_u,
    percentile,
    smallest_p_value,
    stability_warnings,
    summarize,
)


def brute_force_p(x: list[float], y: list[float]) -> float:
    """The two-sided p-value by enumerating every split of the pooled values (no ties)."""
    pooled = [*x, *y]
    n1 = len(x)

    def u_of(first: tuple[int, ...]) -> int:
        chosen = set(first)
        a = [pooled[i] for i in chosen]
        b = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        return sum(1 for ai in a for bj in b if ai > bj)

    mean = n1 * len(y) / 2
    observed = abs(u_of(tuple(range(n1))) - mean)
    splits = list(itertools.combinations(range(len(pooled)), n1))
    extreme = sum(1 for split in splits if abs(u_of(split) - mean) >= observed)
    return extreme / len(splits)


def test_summary_of_a_sample() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (summary.n, summary.mean, summary.median) == (5, 22.0, 3.0)
    assert (summary.min, summary.max, summary.outliers) == (1.0, 100.0, 1)
    assert summary.stdev == pytest.approx(43.6176, rel=1e-4)


def test_summary_of_one_value_has_no_spread() -> None:
    summary = summarize([0.5])
    assert (summary.stdev, summary.outliers) == (0.0, 0)


def test_summary_refuses_an_empty_sample() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        summarize([])


def test_outliers_are_values_beyond_tukeys_fences() -> None:
    assert count_outliers([10, 11, 12, 13, 14, 15]) == 0
    assert count_outliers([10, 11, 12, 13, 14, 40, -20]) == 2
    assert count_outliers([1, 100, 1000]) == 0  # fewer than four values: no quartiles


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile(list(map(float, range(101))), 99) == 99.0


def test_a_steady_result_has_no_stability_warning() -> None:
    assert stability_warnings(summarize([1.00, 1.01, 0.99, 1.02]), shortest_raw_s=0.1) == []


def test_stability_warnings_follow_pyperfs_checks() -> None:
    warnings = stability_warnings(summarize([1.0, 1.0, 1.0, 3.0]), shortest_raw_s=0.0002)
    assert warnings == [
        "the standard deviation is 67% of the mean",
        "the maximum is 100% greater than the mean",
        "the shortest timed loop took only 200 µs",
    ]


def test_exact_p_value_of_total_separation() -> None:
    result = mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert result.method == "exact"
    assert result.u == 0
    assert result.p_value == pytest.approx(2 / math.comb(10, 5))


def test_exact_p_values_match_an_exhaustive_enumeration() -> None:
    rng = random.Random(7)
    for _ in range(40):
        x = [rng.random() for _ in range(rng.randint(1, 7))]
        y = [rng.random() + rng.choice([0.0, 0.3]) for _ in range(rng.randint(1, 7))]
        result = mann_whitney_u(x, y)
        assert result.method == "exact"
        assert result.p_value == pytest.approx(brute_force_p(x, y)), (x, y)


def test_normal_approximation_is_close_to_the_exact_value() -> None:
    rng = random.Random(3)
    x = [rng.gauss(0, 1) for _ in range(10)]
    y = [rng.gauss(0.8, 1) for _ in range(10)]
    exact = mann_whitney_u(x, y).p_value
    larger = mann_whitney_u(x, [*y, max(y) + 1]).method  # 21 values: past the exact limit
    assert larger == "normal"
    tied = mann_whitney_u([*x, x[0]], y)  # a tie forces the approximation
    assert tied.method == "normal"
    assert tied.p_value == pytest.approx(exact, abs=0.03)


def test_identical_samples_are_no_evidence_of_a_difference() -> None:
    assert mann_whitney_u([5.0] * 6, [5.0] * 6).p_value == 1.0


def test_constant_but_different_samples_are_significant() -> None:
    assert mann_whitney_u([150.0] * 5, [100.0] * 5).p_value < 0.01


def test_smallest_p_value_tells_whether_a_test_can_be_significant() -> None:
    assert smallest_p_value(1, 1) == 1.0
    assert smallest_p_value(3, 3) == pytest.approx(0.1)
    assert smallest_p_value(4, 4) == pytest.approx(2 / 70)
