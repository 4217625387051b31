"""The statistics of a benchmark: summaries, outliers, stability, and a significance test.

Standard library only: mlprod does not depend on NumPy or SciPy. The significance
test is the two-sided Mann-Whitney U test (Mann and Whitney, 1947), chosen because
timings are skewed and often multi-modal, which a t-test assumes away. Its p-value is
exact (the distribution of U counted out) for small samples without ties, and the
normal approximation with tie and continuity corrections otherwise, as in the
textbooks and SciPy's `mannwhitneyu`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

EXACT_LIMIT = 20
"""Samples, both sides together, up to which U's distribution is counted exactly."""


@dataclass(frozen=True)
class Summary:
    """A sample described: centre, spread, extremes, and how many values are outliers."""

    n: int
    mean: float
    stdev: float
    median: float
    min: float
    max: float
    outliers: int
    """Values outside Tukey's fences (1.5 interquartile ranges beyond the quartiles)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TestResult:
    """A Mann-Whitney U test: the statistic of the first sample, and the two-sided p-value."""

    u: float
    p_value: float
    method: str
    """`exact` or `normal`."""


def summarize(values: Sequence[float]) -> Summary:
    """Describe a non-empty sample."""
    if not values:
        raise ValueError("summarize() needs at least one value")
    return Summary(
        n=len(values),
        mean=statistics.fmean(values),
        stdev=statistics.stdev(values) if len(values) > 1 else 0.0,
        median=statistics.median(values),
        min=min(values),
        max=max(values),
        outliers=count_outliers(values),
    )


def count_outliers(values: Sequence[float]) -> int:
    """Values beyond Tukey's fences; 0 for fewer than four values (no quartiles to speak of)."""
    if len(values) < 4:
        return 0
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    reach = 1.5 * (q3 - q1)
    return sum(1 for value in values if value < q1 - reach or value > q3 + reach)


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100), linear between the closest ranks (NumPy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile() needs at least one value")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def stability_warnings(summary: Summary, shortest_raw_s: float | None = None) -> list[str]:
    """pyperf's checks for a result that may be unstable, in its words.

    The standard deviation at 10% of the mean or more; a minimum or maximum 50% or
    more away from the mean; a timed loop shorter than 1 ms (too close to the
    clock's resolution and to scheduling noise).
    """
    warnings = []
    mean = summary.mean
    if summary.n >= 2 and mean > 0 and summary.stdev / mean >= 0.10:
        warnings.append(f"the standard deviation is {summary.stdev / mean:.0%} of the mean")
    for name, value in (("minimum", summary.min), ("maximum", summary.max)):
        if mean > 0 and abs(value - mean) / mean >= 0.5:
            side = "greater" if value > mean else "smaller"
            warnings.append(f"the {name} is {abs(value - mean) / mean:.0%} {side} than the mean")
    if shortest_raw_s is not None and shortest_raw_s < 1e-3:
        warnings.append(f"the shortest timed loop took only {shortest_raw_s * 1e6:.0f} µs")
    return warnings


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> TestResult:
    """Two-sided Mann-Whitney U test of `x` against `y` (each with at least one value)."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney_u() needs at least one value on each side")
    ranks, tie_sizes = _ranks([*x, *y])
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    if n1 + n2 <= EXACT_LIMIT and not tie_sizes:
        return TestResult(u=u1, p_value=_exact_p(u1, n1, n2), method="exact")
    return TestResult(u=u1, p_value=_normal_p(u1, n1, n2, tie_sizes), method="normal")


def smallest_p_value(n1: int, n2: int) -> float:
    """The smallest two-sided p-value samples of these sizes can give (total separation)."""
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Ranks from 1, ties given their average rank; and the size of each group of ties."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties = []
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        if end > start:
            ties.append(end - start + 1)
        start = end + 1
    return ranks, ties


def _exact_p(u1: float, n1: int, n2: int) -> float:
    """2 * P(U <= min(U1, U2)) under the null hypothesis, from U's counted distribution."""
    counts = _u_counts(n1, n2)
    u = min(u1, n1 * n2 - u1)
    tail = sum(counts[: math.floor(u) + 1])
    return min(1.0, 2 * tail / math.comb(n1 + n2, n1))


def _u_counts(n1: int, n2: int) -> list[int]:
    """How many arrangements of n1 + n2 distinct values give U = 0, 1, ..., n1 * n2.

    Dynamic programming over the values in increasing order: `ways[k][u]` counts the
    ways to have placed `k` values of the first sample among those seen so far with
    statistic `u` (each first-sample value adds the number of second-sample values
    below it).
    """
    ways = [[0] * (n1 * n2 + 1) for _ in range(n1 + 1)]
    ways[0][0] = 1
    for seen in range(n1 + n2):
        for k in range(min(seen, n1), -1, -1):
            second_below = seen - k
            if second_below > n2 or k == n1:
                continue
            row, target = ways[k], ways[k + 1]
            for u, count in enumerate(row):
                if count:
                    target[u + second_below] += count
    return ways[n1]


def _normal_p(u1: float, n1: int, n2: int, tie_sizes: Sequence[int]) -> float:
    """The normal approximation, with the tie correction to the variance and a continuity
    correction of 0.5."""
    n = n1 + n2
    mean = n1 * n2 / 2
    tie_term = sum(t**3 - t for t in tie_sizes) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0  # every value equal: no evidence of any difference
    z = max(abs(u1 - mean) - 0.5, 0.0) / math.sqrt(variance)
    return min(1.0, math.erfc(z / math.sqrt(2)))
