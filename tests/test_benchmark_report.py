"""The benchmark's tables: units, significant figures, and what a recorded result shows."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from mlprod_cli.benchmarking import report
from mlprod_cli.benchmarking.compare import compare

RECORDED = Path(__file__).parent / "fixtures" / "benchmark" / "credit-risk-scorer-0.1.0.json"


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
    assert report.format_duration(seconds) == shown


def test_bytes_and_rates() -> None:
    assert report.format_bytes(12_000) == "12 KiB"
    assert report.format_bytes(1.5 * 2**20) == "1.5 MiB"
    assert report.format_bytes(3 * 2**30) == "3.00 GiB"
    assert report.format_rate(2512.7) == "2,510"
    assert report.format_rate(9.876) == "9.88"
    assert report.format_rate(821_345) == "821,000"


def rendered(renderable: object) -> str:
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_result_shows_load_memory_and_every_batch() -> None:
    document = json.loads(RECORDED.read_text())
    text = rendered(report.result(document))
    assert "credit-risk-scorer 0.1.0 (scikit-learn 1.9.1) on Python 3.11.7" in text
    assert "Inputs: 150 rows from data/iris.csv" in text
    assert "Load, 5 fresh processes" in text
    assert "memory the model holds (heap)" in text
    for batch in document["predict"]:
        mean = report.format_duration(batch["latency_s"]["summary"]["mean"])
        rate = report.format_rate(batch["rows_per_s"])
        row = next(
            line
            for line in text.splitlines()
            if line.strip().startswith(str(batch["batch_size"]) + " ")
        )
        assert mean in row and rate in row


def test_comparison_shows_each_change_and_its_verdict() -> None:
    document = json.loads(RECORDED.read_text())
    text = rendered(report.comparison(compare(document, document, 0.10)))
    assert text.count("+0.0%") == 9
    assert "REGRESSION" not in text
