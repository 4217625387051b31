"""The benchmark's tables: what a recorded result shows (the formats: `test_console.py`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from mlprod_cli import console
from mlprod_cli.benchmarking import report
from mlprod_cli.benchmarking.compare import compare

RECORDED = Path(__file__).parent / "fixtures" / "benchmark" / "credit-risk-scorer-0.1.0.json"


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
        mean = console.format_duration(batch["latency_s"]["summary"]["mean"])
        rate = console.format_rate(batch["rows_per_s"])
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


def test_a_compiled_model_is_shown_side_by_side_with_its_speedup() -> None:
    document = json.loads(RECORDED.read_text())
    assert document.get("compiled") is None
    assert "Native vs compiled" not in rendered(report.result(document))
    native = document["predict"][0]
    faster = {
        **native,
        "latency_s": {"summary": {"mean": native["latency_s"]["summary"]["mean"] / 4}},
    }
    document["compiled"] = {
        "artifact": "credit-risk-scorer-0.1.0.onnx",
        "predict": [faster],
        "speedup": {str(native["batch_size"]): 4.0},
    }
    text = rendered(report.result(document))
    assert "Native vs compiled" in text
    assert "compiled: credit-risk-scorer-0.1.0.onnx in ONNX Runtime" in " ".join(text.split())
    after = text.split("Native vs compiled", 1)[1].splitlines()
    row = next(line for line in after if line.strip().startswith(f"{native['batch_size']} "))
    assert row.split() == [
        str(native["batch_size"]),
        *console.format_duration(native["latency_s"]["summary"]["mean"]).split(),
        *console.format_duration(native["latency_s"]["summary"]["mean"] / 4).split(),
        "4.0x",
    ]
