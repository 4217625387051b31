"""`mlprod benchmark`'s settings: batch sizes, percentages, counts, parsed before any work."""

from __future__ import annotations

import pytest

from mlprod_cli.benchmarking.settings import (
    Settings,
    format_percent,
    parse_batch_sizes,
    parse_percentage,
    positive_int,
    positive_seconds,
)
from mlprod_cli.errors import UserError


def test_batch_sizes_keep_their_order_and_drop_duplicates() -> None:
    assert parse_batch_sizes("1,8,64,512") == (1, 8, 64, 512)
    assert parse_batch_sizes(" 64, 1 ,64") == (64, 1)


@pytest.mark.parametrize("text", ["0", "-1", "1,,8", "eight", "1.5"])
def test_batch_sizes_must_be_positive_whole_numbers(text: str) -> None:
    with pytest.raises(UserError, match=r"is not a positive whole number; give sizes like"):
        parse_batch_sizes(text)


def test_batch_size_message_names_the_bad_item() -> None:
    with pytest.raises(UserError) as error:
        parse_batch_sizes("1,0")
    assert str(error.value) == (
        "--batch-sizes: '0' is not a positive whole number; give sizes like 1,8,64,512"
    )


def test_batch_sizes_have_an_upper_bound() -> None:
    with pytest.raises(UserError) as error:
        parse_batch_sizes("2000000")
    assert str(error.value) == (
        "--batch-sizes: 2000000 is more than 1,000,000 rows; give a smaller size"
    )


@pytest.mark.parametrize(("text", "fraction"), [("10%", 0.10), ("2.5", 0.025), ("0%", 0.0)])
def test_percentages(text: str, fraction: float) -> None:
    assert parse_percentage(text) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["ten", "-5%", "%", ""])
def test_percentage_refuses_anything_else(text: str) -> None:
    with pytest.raises(UserError) as error:
        parse_percentage(text)
    assert str(error.value) == f"--max-regression expects a percentage like 10%, got {text!r}"


@pytest.mark.parametrize(("fraction", "shown"), [(0.1, "10%"), (0.025, "2.5%"), (10.0, "1000%")])
def test_percentages_are_shown_as_typed(fraction: float, shown: str) -> None:
    assert format_percent(fraction) == shown


def test_counts_and_seconds_must_be_positive() -> None:
    assert positive_int(3, "--runs") == 3
    with pytest.raises(UserError, match=r"^--runs must be a positive whole number, got 0$"):
        positive_int(0, "--runs")
    assert positive_seconds(0.01, "--min-time") == 0.01
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(UserError, match=r"^--min-time must be a positive number of seconds"):
            positive_seconds(bad, "--min-time")


def test_single_call_budget_is_one_pyperf_run() -> None:
    assert Settings(warmups=1, values=3, min_time_s=0.1).call_budget_s == pytest.approx(0.4)
