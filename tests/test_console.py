"""One format for every command: sizes, durations, rates, paths and tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlprod_cli import console


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0, "0 s"),
        (2.5e-8, "25.0 ns"),
        (0.000105, "105 µs"),
        (0.0009994, "999 µs"),
        (0.0009996, "1.00 ms"),
        (0.01234, "12.3 ms"),
        (1.5, "1.50 s"),
    ],
)
def test_durations_have_three_significant_figures(seconds: float, shown: str) -> None:
    assert console.format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (12_000, "11.7 KiB"),
        (131_072, "128 KiB"),
        (1.5 * 2**20, "1.50 MiB"),
        (524_900_000, "501 MiB"),
        (3 * 2**30, "3.00 GiB"),
        (2**20 - 1, "1.00 MiB"),
    ],
)
def test_sizes_are_binary_with_three_significant_figures(count: float, shown: str) -> None:
    assert console.format_size(count) == shown


def test_rates_have_three_significant_figures_and_separators() -> None:
    assert console.format_rate(2512.7) == "2,510"
    assert console.format_rate(9.876) == "9.88"
    assert console.format_rate(821_345) == "821,000"


def test_table_aligns_columns_and_right_aligns_numbers() -> None:
    rows = [("path", "size", "sha256"), ("a.whl", "12.0 KiB", "ab"), ("b.tar.gz", "1 B", "cd")]
    assert console.table(rows, right=(1,)).splitlines() == [
        "path          size  sha256",
        "a.whl     12.0 KiB  ab",
        "b.tar.gz       1 B  cd",
    ]


def test_paths_inside_the_current_folder_are_shown_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert console.shown(tmp_path / "dist" / "a.whl") == "dist/a.whl"
    assert console.shown("/elsewhere/a.whl") == "/elsewhere/a.whl"
    assert console.shown("demo:0.1.0") == "demo:0.1.0"
