"""Gates tier for `mlprod benchmark`: a real generated project, installed and trained.

The real command measures it in its own environment, with small settings (seconds):
the JSON document must have its full structure and figures that hang together. No
figure is held to a time: a benchmark measures, a test checks behaviour.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mlprod_cli.main import app
from mlprod_cli.project import environment

pytestmark = pytest.mark.slow

SLUG = "credit-risk-scorer"
SMALL = ["--runs", "2", "--load-runs", "2", "--min-time", "0.01", "--batch-sizes", "1,16"]


def mlprod(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("benchmark-gates")
    result = mlprod("new", "--no-input", "-o", output, "--set", "project_name=Credit Risk Scorer")
    assert result.exit_code == 0, result.output
    return output / SLUG


@pytest.fixture(scope="module")
def python(project: Path) -> Path:
    """The project's `.venv` with its dev extra (pyperf included), and its model trained."""
    interpreter = environment.create(project, extras=("dev",))
    trained = subprocess.run(
        [str(interpreter.parent / SLUG), "train"], cwd=project, capture_output=True, text=True
    )
    assert trained.returncode == 0, trained.stderr
    return interpreter


@pytest.fixture(scope="module")
def measured(project: Path, python: Path) -> tuple[Result, dict[str, Any], Path]:
    out = project.parent / "out.json"
    result = mlprod("benchmark", "--project", project, *SMALL, "--json", out, "--save-baseline")
    assert result.exit_code == 0, result.output
    return result, json.loads(out.read_text()), out


def test_the_table_is_printed_and_both_documents_written(
    project: Path, measured: tuple[Result, dict[str, Any], Path]
) -> None:
    result, _, out = measured
    baseline = project / "benchmarks" / f"{SLUG}-0.1.0.json"
    assert "Load, 2 fresh processes" in result.stdout
    assert "Predict latency per batch" in result.stdout
    assert result.stdout.endswith(f"Wrote {out}\nWrote {baseline}\n")
    assert baseline.read_text() == out.read_text()


def test_the_document_names_the_model_and_its_environment(
    project: Path, python: Path, measured: tuple[Result, dict[str, Any], Path]
) -> None:
    _, document, _ = measured
    manifest = json.loads((project / "models" / f"{SLUG}-0.1.0.json").read_text())
    assert (document["format"], document["format_version"]) == ("mlprod-benchmark", 1)
    assert document["model"]["name"] == SLUG
    assert document["model"]["version"] == "0.1.0"
    assert document["model"]["artifact_sha256"] == manifest["artifact"]["sha256"]
    environment_ = document["environment"]
    version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert environment_["python"]["version"] == version
    assert environment_["python"]["executable"] == str(python)
    assert {"numpy", "scikit-learn", "pyperf", SLUG} <= set(environment_["libraries"])
    assert environment_["cpu"]["usable_cores"] >= 1
    assert set(environment_["thread_env"]) == {
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    }
    settings = document["settings"]
    assert settings["batch_sizes"] == [1, 16]
    assert (settings["runs"], settings["values"], settings["load_runs"]) == (2, 3, 2)
    assert settings["min_time_s"] == 0.01
    assert settings["inputs"] == {"source": "data/iris.csv", "rows": 150}


def test_the_document_holds_every_figure_with_its_samples(
    measured: tuple[Result, dict[str, Any], Path],
) -> None:
    _, document, _ = measured
    load = document["load"]
    assert load["runs"] == 2
    for key in ("import_s", "load_s", "process_s", "model_rss_bytes", "model_heap_bytes"):
        assert len(load[key]["samples"]) == 2, key
        assert load[key]["summary"]["n"] == 2, key
    for run in range(2):
        timings = [load[key]["samples"][run] for key in ("import_s", "load_s", "process_s")]
        assert all(value > 0 for value in timings)
        assert timings[2] > timings[0] + timings[1]  # the process holds the import and the load
    assert load["model_heap_bytes"]["summary"]["min"] > 0
    assert [batch["batch_size"] for batch in document["predict"]] == [1, 16]
    for batch in document["predict"]:
        latency = batch["latency_s"]
        assert len(latency["samples"]) == 2 * 3  # runs x values
        assert all(value > 0 for value in latency["samples"])
        assert batch["loops"] >= 1
        assert batch["rows_per_s"] == pytest.approx(
            batch["batch_size"] / latency["summary"]["mean"]
        )
        calls = batch["call_latency_s"]
        assert calls["n"] >= 20
        assert 0 < calls["p50"] <= calls["p90"] <= calls["p99"] <= calls["max"]
        assert isinstance(batch["warnings"], list)
    assert document["memory"]["peak_rss_bytes"] > 10 * 2**20  # Python, NumPy, scikit-learn
    assert document["memory"]["model_heap_bytes"] == load["model_heap_bytes"]["summary"]["mean"]
    assert isinstance(document["warnings"], list)


def test_the_next_version_is_compared_with_the_saved_baseline(
    project: Path, python: Path, measured: tuple[Result, dict[str, Any], Path]
) -> None:
    assert mlprod("bump", "patch", "--project", project).exit_code == 0
    trained = subprocess.run(
        [str(python.parent / SLUG), "train"], cwd=project, capture_output=True, text=True
    )
    assert trained.returncode == 0, trained.stderr
    # A threshold no noise reaches: this checks the comparison runs, not the machine's speed.
    result = mlprod(
        "benchmark",
        "--project",
        project,
        "--python",
        python,
        "--model-version",
        "0.1.1",
        *SMALL,
        "--compare",
        "--max-regression",
        "1000%",
    )
    assert result.exit_code == 0, result.output
    baseline = project / "benchmarks" / f"{SLUG}-0.1.0.json"
    assert f"\nCompared with {baseline}\n" in result.stdout
    for label in ("load time", "batch 1 latency", "batch 16 rows/s", "model heap"):
        assert f"  {label} " in result.stdout
    assert result.stdout.endswith("No figure regressed by more than 1000%.\n")


def test_a_model_the_registry_refuses_is_one_line(project: Path, python: Path) -> None:
    models = project / "models"
    # A manifest that describes another version than its name says: the registry refuses it.
    stray = [models / f"{SLUG}-0.0.9.json", models / f"{SLUG}-0.0.9.skops"]
    shutil.copy(models / f"{SLUG}-0.1.0.json", stray[0])
    shutil.copy(models / f"{SLUG}-0.1.0.skops", stray[1])
    try:
        result = mlprod("benchmark", "--project", project, "--model-version", "0.0.9", *SMALL)
    finally:
        for path in stray:
            path.unlink()
    assert result.exit_code == 1
    assert result.stderr.startswith(f"mlprod: cannot load {SLUG} 0.0.9: ")
    assert "0.1.0" in result.stderr
    assert result.stderr.count("\n") == 1
