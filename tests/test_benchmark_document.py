"""The benchmark's JSON document: built from a measurement, read back, kept as a baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlprod_cli.benchmarking.document import (
    FORMAT,
    FORMAT_VERSION,
    Measurement,
    baseline_path,
    build_document,
    previous_baseline,
    read_document,
    write_document,
)
from mlprod_cli.benchmarking.inputs import Inputs, TrainedModel
from mlprod_cli.benchmarking.settings import Settings
from mlprod_cli.errors import UserError
from mlprod_cli.project import Project

RECORDED = Path(__file__).parent / "fixtures" / "benchmark" / "credit-risk-scorer-0.1.0.json"
NAME = "credit-risk-scorer"


def measurement() -> Measurement:
    """What the runner answers, written out by hand."""
    load = {
        "import_s": 0.8,
        "load_s": 0.002,
        "model_rss_bytes": 16384,
        "peak_rss_bytes": 120 << 20,
        "model_heap_bytes": 12000,
        "process_s": 1.0,
    }
    return Measurement(
        environment={
            "python": {"version": "3.11.7", "implementation": "CPython", "executable": "py"},
            "platform": "Linux",
            "cpu": {"model": "AMD EPYC", "logical_cores": 2, "usable_cores": 2},
            "libraries": {"numpy": "2.4.6", "pyperf": "2.11.0"},
            "pyperf": "2.11.0",
        },
        loads=[load, {**load, "load_s": 0.004, "model_rss_bytes": None}],
        predict={
            "batches": [
                {
                    "batch_size": 8,
                    "loops": 1000,
                    "values_s": [0.0002, 0.0002, 0.0004, 0.0002],
                    "call_s": [0.0001 * i for i in range(1, 101)],
                }
            ],
            "peak_rss_bytes": 130 << 20,
        },
    )


def test_build_document_summarizes_every_figure(tmp_path: Path) -> None:
    project = Project(tmp_path, NAME, "credit_risk_scorer", NAME, "0.1.0")
    model = TrainedModel(
        NAME, "0.1.0", tmp_path / "m.json", {"framework": "scikit-learn", "artifact": {}}
    )
    document = build_document(
        project=project,
        model=model,
        inputs=Inputs(rows=[[1.0]], source="data/x.csv"),
        settings=Settings(batch_sizes=(8,), runs=2, values=2, load_runs=2),
        measurement=measurement(),
        thread_env={"OMP_NUM_THREADS": "1"},
        mlprod_version="0.1.0",
        created_at="2026-01-01T00:00:00+00:00",
    )
    assert (document["format"], document["format_version"]) == (FORMAT, FORMAT_VERSION)
    assert document["load"]["load_s"]["samples"] == [0.002, 0.004]
    assert document["load"]["load_s"]["summary"]["mean"] == pytest.approx(0.003)
    assert document["load"]["model_rss_bytes"] == {"samples": [], "summary": None}
    batch = document["predict"][0]
    assert batch["latency_s"]["summary"]["mean"] == pytest.approx(0.00025)
    assert batch["rows_per_s"] == pytest.approx(8 / 0.00025)
    assert batch["call_latency_s"]["n"] == 100
    assert batch["call_latency_s"]["p50"] == pytest.approx(0.00505)
    assert batch["call_latency_s"]["p99"] == pytest.approx(0.009901)
    assert document["memory"] == {
        "peak_rss_bytes": 130 << 20,
        "model_rss_bytes": None,
        "model_heap_bytes": 12000,
    }
    assert document["settings"]["inputs"] == {"source": "data/x.csv", "rows": 1}
    assert document["warnings"] == [
        "load time: the standard deviation is 47% of the mean",
        "batch 8: the standard deviation is 40% of the mean; "
        "the maximum is 60% greater than the mean",
    ]
    write_document(tmp_path / "out.json", document)
    assert read_document(tmp_path / "out.json", "--json") == document


def test_read_document_accepts_a_recorded_result() -> None:
    assert read_document(RECORDED, "--baseline")["model"]["version"] == "0.1.0"


def test_read_document_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError) as error:
        read_document(tmp_path / "nope.json", "--baseline")
    assert str(error.value) == f"--baseline {tmp_path / 'nope.json'} does not exist"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ('{"format": "pyperf"}', "is not an mlprod benchmark result"),
        (
            json.dumps({"format": FORMAT, "format_version": 99}),
            "is a benchmark result of format version 99; this mlprod reads version 1",
        ),
        (
            json.dumps({"format": FORMAT, "format_version": 1, "model": {}}),
            "is an incomplete benchmark result: no project.name",
        ),
        (
            json.dumps({**json.loads(RECORDED.read_text()), "predict": [{"batch_size": 1.5}]}),
            "is an incomplete benchmark result: a batch size is not a whole number",
        ),
    ],
)
def test_read_document_refuses_anything_else(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(content)
    with pytest.raises(UserError) as error:
        read_document(path, "--baseline")
    assert str(error.value) == f"--baseline {path} {message}"


def test_previous_baseline_is_the_highest_earlier_version(tmp_path: Path) -> None:
    for version in ("0.1.0", "0.9.0", "1.0.0-rc.1", "1.0.0", "1.1.0"):
        path = baseline_path(tmp_path, NAME, version)
        path.parent.mkdir(exist_ok=True)
        path.write_text("{}")
    (tmp_path / "benchmarks" / f"{NAME}-notes.json").write_text("{}")
    assert previous_baseline(tmp_path, NAME, "1.1.0") == baseline_path(tmp_path, NAME, "1.0.0")
    assert previous_baseline(tmp_path, NAME, "1.0.0") == baseline_path(tmp_path, NAME, "1.0.0-rc.1")


def test_no_previous_baseline_says_how_to_make_one(tmp_path: Path) -> None:
    path = baseline_path(tmp_path, NAME, "0.2.0")
    path.parent.mkdir()
    path.write_text("{}")
    with pytest.raises(UserError) as error:
        previous_baseline(tmp_path, NAME, "0.2.0")
    assert str(error.value) == (
        f"no baseline of a {NAME} version before 0.2.0 in {tmp_path / 'benchmarks'} "
        "(saved: 0.2.0); save one with --save-baseline while benchmarking that version, "
        "or pass --baseline PATH"
    )


def test_write_document_leaves_no_partial_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        write_document(tmp_path / "out.json", {"bad": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_a_compiled_model_is_reported_beside_the_native_one_with_the_speedup(
    tmp_path: Path,
) -> None:
    project = Project(tmp_path, NAME, "credit_risk_scorer", NAME, "0.1.0")
    manifest = {
        "framework": "scikit-learn",
        "artifact": {},
        "compiled": {"file": f"{NAME}-0.1.0.onnx", "precision": "float32"},
    }
    model = TrainedModel(NAME, "0.1.0", tmp_path / "m.json", manifest)
    native = measurement()
    compiled_batch = {**native.predict["batches"][0], "values_s": [0.00005] * 4}
    measured = Measurement(
        environment=native.environment,
        loads=native.loads,
        predict=native.predict,
        compiled={"batches": [compiled_batch]},
    )
    document = build_document(
        project=project,
        model=model,
        inputs=Inputs(rows=[[1.0]], source="data/x.csv"),
        settings=Settings(batch_sizes=(8,), runs=2, values=2, load_runs=2),
        measurement=measured,
        thread_env={},
        mlprod_version="0.1.0",
        created_at="2026-01-01T00:00:00+00:00",
    )
    compiled = document["compiled"]
    assert (compiled["artifact"], compiled["precision"]) == (f"{NAME}-0.1.0.onnx", "float32")
    assert compiled["predict"][0]["latency_s"]["summary"]["mean"] == pytest.approx(0.00005)
    assert compiled["speedup"] == {"8": pytest.approx(0.00025 / 0.00005)}
    write_document(tmp_path / "out.json", document)
    assert read_document(tmp_path / "out.json", "--json") == document
