"""Gates tier: a generated project, installed into its own environment, works end to end.

For every combination of the template's options (the same matrix as the render tier):
it passes its own ruff, mypy, pre-commit hooks and pytest, trains its example model, is
served by a real uWSGI on a loopback port and answers: numbers for regression, labels and
(when asked) probabilities summing to 1 for classification. One environment per
combination, shared by this module's tests. Slow; CI runs it all the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from projects import new_project

from mlprod_cli.project import environment, server
from mlprod_cli.templating.answers import option_matrix
from mlprod_cli.templating.source import bundled_template

pytestmark = pytest.mark.slow

SLUG = "credit-risk-scorer"
MATRIX = option_matrix(bundled_template().choices())
DEFAULT = {key: values[0] for key, values in bundled_template().choices().items()}
"""The combination `--no-input` gives: the only one whose serving-layer tests run in full."""
MODEL_TESTS = ["test_model.py", "test_compiled.py", "test_train.py", "test_thresholds.py",
               "test_api.py", "test_network.py"]  # fmt: skip
"""What a framework changes is the model layer: a combination with another framework than the
default runs its project's tests of the model (fit, predict, compile, train, thresholds, the
API's answers from it, and a network's own tests where it has one). The rest of the suite
(registry, batch, commands, settings, a real uWSGI) does not depend on the framework and runs
for the default framework with each task (CI's budget: a pytorch project pays torch's imports
and a network's training in every test that trains)."""
OTHERS = "not serving and not spark and not store and not tracking and not dvc and not prometheus"
"""The generated tests that run for the default combination only: the serving layer's own
(resilience, edges, fuzz), and those needing a real Spark cluster, redis-server, an MLflow
server, a DVC repository or Prometheus, none of which depend on the model."""


def own_tests(project: Path, combination: dict[str, str]) -> list[str]:
    """The arguments that choose the part of a project's own suite its combination runs."""
    if combination == DEFAULT:
        return []
    if combination["framework"] == DEFAULT["framework"]:
        return ["-m", OTHERS]
    tests = project / "tests"
    return ["-m", OTHERS, *(f"tests/{name}" for name in MODEL_TESTS if (tests / name).is_file())]


@pytest.fixture(
    scope="module",
    params=MATRIX,
    ids=["-".join(f"{key}={value}" for key, value in combo.items()) for combo in MATRIX],
)
def combination(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(request.param)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, combination: dict[str, str]) -> Path:
    output = tmp_path_factory.mktemp("gates")
    return new_project(output, answers=combination)


@pytest.fixture(scope="module")
def bin_dir(project: Path, combination: dict[str, str]) -> Path:
    # Spark and Redis (pyspark is ~400 MB; a cluster takes tens of seconds to start), MLflow
    # (its server: ~200 MB, tens of seconds to start) and DVC are exercised whatever the
    # model, so for the default combination only, like `serving`. `train` is what training
    # needs beyond serving: torch for a pytorch project (from uv's cache after the first
    # install), nothing for the others.
    everything = ("api", "dev", "train", "spark", "store", "tracking", "tracking-server", "dvc")
    extras = everything if combination == DEFAULT else ("api", "dev", "train")
    return environment.create(project, extras=extras).parent


def run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def trained(project: Path, bin_dir: Path) -> Path:
    result = run([bin_dir / SLUG, "train"], project)
    assert result.returncode == 0, result.stderr
    return project / "models"


def test_generated_project_passes_its_own_ruff(project: Path, bin_dir: Path) -> None:
    for command in (["check", "."], ["format", "--check", "."]):
        result = run([bin_dir / "ruff", *command], project)
        assert result.returncode == 0, result.stdout


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for every combination: the libraries' types (NumPy, pandas' stubs,
    pydantic, the standard library) are analysed once, not once per environment (about 15 s
    each); mypy re-checks whatever differs by the files' hashes."""
    return tmp_path_factory.mktemp("mypy-cache")


def test_generated_project_passes_its_own_type_check(
    project: Path, bin_dir: Path, mypy_cache: Path
) -> None:
    """`mypy` as its CI and tox run it: strict over src/, with [tool.mypy] from its pyproject."""
    result = run([bin_dir / "mypy", "--cache-dir", mypy_cache], project)
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.stdout.startswith("Success: no issues found")


def test_generated_project_passes_its_own_pre_commit_hooks(
    project: Path, bin_dir: Path, tmp_path: Path, mypy_cache: Path
) -> None:
    """The hooks a user installs run clean on the first commit's files and change none."""
    before = run(["git", "status", "--porcelain"], project).stdout
    result = subprocess.run(
        [bin_dir / "pre-commit", "run", "--all-files"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
            "MYPY_CACHE_DIR": str(mypy_cache),
        },
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.stdout.count("Passed") == 5, result.stdout
    assert run(["git", "status", "--porcelain"], project).stdout == before


def test_generated_project_passes_its_own_tests(
    project: Path, bin_dir: Path, combination: dict[str, str]
) -> None:
    # The container test runs in test_package_gates.py, against the image `mlprod package`
    # builds there: one image build per run, and no skip here on a machine without an engine.
    # Which part of the suite runs where, and why: `own_tests`, `MODEL_TESTS`, `OTHERS`.
    only = own_tests(project, combination)
    result = run(
        [bin_dir / "pytest", "-q", "-p", "no:cacheprovider", "--ignore=tests/test_container.py",
         *only],
        project,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout
    assert " skipped" not in result.stdout, "what a combination runs must run, not skip"


def test_training_writes_the_versioned_artifact_and_its_manifest(trained: Path) -> None:
    assert (trained / f"{SLUG}-0.1.0.skops").is_file()
    manifest = json.loads((trained / f"{SLUG}-0.1.0.json").read_text())
    assert (manifest["name"], manifest["version"]) == (SLUG, "0.1.0")
    # every task and framework the template offers compiles with its defaults
    assert manifest["not_compiled"] is None
    assert manifest["compiled"]["file"] == f"{SLUG}-0.1.0.onnx"
    assert (trained / f"{SLUG}-0.1.0.onnx").is_file()
    assert manifest["compiled"]["rows_checked"] > manifest["split"]["test_rows"]


def test_training_the_same_version_again_is_refused(
    project: Path, bin_dir: Path, trained: Path
) -> None:
    before = {path.name: path.stat().st_mtime_ns for path in trained.iterdir()}
    result = run([bin_dir / SLUG, "train"], project)
    assert result.returncode == 1
    assert "bump" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert {path.name: path.stat().st_mtime_ns for path in trained.iterdir()} == before


@pytest.fixture(scope="module")
def served(project: Path, bin_dir: Path, trained: Path) -> Iterator[str]:
    with server.running(project, bin_dir / "uwsgi", env={"UWSGI_PROCESSES": "2"}) as url:
        yield url


def test_served_model_answers_as_its_task_says(served: str, combination: dict[str, str]) -> None:
    manifest = server.request("GET", f"{served}/v1/model").body
    instance = manifest["input_schema"]["example"]
    body = {"instances": [instance, instance]}
    if combination["task"] == "classification":
        body["return_probabilities"] = True
    answer = server.request("POST", f"{served}/v1/predict", body)
    assert answer.status == 200, answer.body
    assert answer.body["model"] == {"name": SLUG, "version": "0.1.0"}
    predictions = answer.body["predictions"]
    assert len(predictions) == 2
    if combination["task"] == "regression":
        assert all(isinstance(value, float) for value in predictions)
        assert "probabilities" not in answer.body
    else:
        classes = manifest["output"]["classes"]
        assert set(predictions) <= set(classes)
        for row in answer.body["probabilities"]:
            assert list(row) == [str(label) for label in classes]
            assert sum(row.values()) == pytest.approx(1.0)


def test_served_model_names_the_missing_field_in_a_4xx(served: str) -> None:
    manifest = server.request("GET", f"{served}/v1/model").body
    instance = dict(manifest["input_schema"]["example"])
    missing = manifest["input_schema"]["features"][-1]["name"]
    del instance[missing]
    answer = server.request("POST", f"{served}/v1/predict", {"instances": [instance]})
    assert 400 <= answer.status < 500
    assert missing in answer.body["error"]["message"]


def test_served_health_and_manifest(served: str) -> None:
    assert server.request("GET", f"{served}/health/live").status == 200
    assert server.request("GET", f"{served}/health/ready").status == 200
    manifest = server.request("GET", f"{served}/v1/model").body
    assert manifest["version"] == "0.1.0"
    assert manifest["runtime"] == "onnx"  # MODEL_RUNTIME=auto, and the gate passed


def test_mlprod_benchmark_loadtest_and_package_work_on_it(
    project: Path, trained: Path, combination: dict[str, str]
) -> None:
    """The lifecycle commands read the manifest and the data as plain files, whatever the
    task and framework: each works on this combination's project as on the example."""
    if combination["framework"] != DEFAULT["framework"] and combination["task"] != DEFAULT["task"]:
        # a framework's model is loaded the same way whatever the task: its project for the
        # default task shows it, the default framework's projects show both tasks' data
        pytest.skip("this framework's project for the default task runs them (CI's budget)")
    mlprod = Path(sys.executable).with_name("mlprod")
    data = "diabetes.csv" if combination["task"] == "regression" else "iris.csv"
    commands = {
        "benchmark": ["benchmark", "--runs", "2", "--load-runs", "2", "--min-time", "0.01",
                      "--batch-sizes", "1,8", "--json", "bench.json"],
        "loadtest": ["loadtest", "--users", "2", "--duration", "2s", "--warmup", "1s",
                     "--json", "lt.json"],
        "package": ["package", "--no-image", "--json"],
    }  # fmt: skip
    results = {name: run([mlprod, *arguments], project) for name, arguments in commands.items()}
    for name, result in results.items():
        assert result.returncode == 0, (name, result.stderr[-2000:])
    bench = json.loads((project / "bench.json").read_text())
    assert bench["settings"]["inputs"]["source"] == f"data/{data}"
    loadtest = json.loads((project / "lt.json").read_text())
    assert loadtest["results"]["requests"] > 0
    assert loadtest["results"]["errors"] == {}
    assert (project / "dist" / "models" / f"{SLUG}-0.1.0.tar.gz").is_file()


@pytest.fixture(scope="module")
def serving_bin_dir(
    project: Path, combination: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """What the image installs: the project with its `api` extra only (no `train`, no `dev`),
    in an environment of its own beside the project."""
    if combination["framework"] != "pytorch":
        pytest.skip("only a pytorch project trains with a library its service must not need")
    venv = tmp_path_factory.mktemp("serving") / "venv"
    return environment.create(project, extras=("api",), venv=venv).parent


def test_a_pytorch_model_is_served_without_torch(
    project: Path, serving_bin_dir: Path, trained: Path, served: str
) -> None:
    """Trained with torch, served by uWSGI with two workers from an environment that has no
    torch: same answers as the training environment's server, from the ONNX model."""
    python = serving_bin_dir / "python"
    missing = run([python, "-c", "import torch"], project)
    assert missing.returncode != 0 and "No module named 'torch'" in missing.stderr
    manifest = server.request("GET", f"{served}/v1/model").body
    assert manifest["framework"] == "torch"
    rows = [dict(manifest["input_schema"]["example"])]
    for feature in manifest["input_schema"]["features"]:  # each number moved, one at a time
        if feature["type"] == "number":
            rows.append({**rows[0], feature["name"]: (rows[0][feature["name"]] or 0) * 1.1})
    body: dict[str, object] = {"instances": rows}
    if manifest["output"]["task"] == "classification":
        body["return_probabilities"] = True
    expected = server.request("POST", f"{served}/v1/predict", body).body
    with server.running(project, serving_bin_dir / "uwsgi", env={"UWSGI_PROCESSES": "2"}) as lean:
        assert server.request("GET", f"{lean}/v1/model").body["runtime"] == "onnx"
        answer = server.request("POST", f"{lean}/v1/predict", body)
    assert answer.status == 200, answer.body
    assert answer.body["predictions"] == expected["predictions"]
    assert answer.body.get("probabilities") == expected.get("probabilities")
