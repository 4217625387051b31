"""`mlprod benchmark`: every mistake a user can make, with the exact message, and the
regression path on recorded results (`--from-json`, so no timing happens here).

The project here is a stand-in: a `pyproject.toml`, a manifest and a data file, which
is all mlprod reads itself. Where an interpreter is needed, a real one runs the real
runner: this test environment's Python (the project is not installed in it), or a
bare virtual environment holding a package of the project's name and no pyperf. The
slow tier (tests/test_benchmark_gates.py) measures a real trained project.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mlprod_cli.main import app
from mlprod_cli.project import environment

NAME = "credit-risk-scorer"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "benchmark"
RECORDED = FIXTURES / f"{NAME}-0.1.0.json"
PYPROJECT = f"""\
[project]
name = "{NAME}"
version = "0.1.0"

[tool.mlprod]
model_name = "{NAME}"
model_version = "0.1.0"
"""
MANIFEST = {
    "name": NAME,
    "version": "0.1.0",
    "framework": "scikit-learn",
    "data": {"file": "iris.csv"},
    "input_schema": {
        "features": [
            {"name": "sepal_length", "type": "number", "allowed": None},
            {"name": "petal_length", "type": "number", "allowed": None},
        ],
        "example": {"sepal_length": 5.1, "petal_length": 1.4},
    },
}


def benchmark(runner: CliRunner, *args: str | Path) -> Result:
    return runner.invoke(app, ["benchmark", *map(str, args)])


def one_line_error(result: Result, code: int = 1) -> str:
    """The stderr of a failed run, checked to be one line and nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    return result.stderr.rstrip("\n")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / NAME
    (root / "models").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "models" / f"{NAME}-0.1.0.json").write_text(json.dumps(MANIFEST))
    (root / "data" / "iris.csv").write_text("sepal_length,petal_length,species\n5.1,1.4,setosa\n")
    return root


@pytest.fixture
def venv(project: Path) -> Path:
    """A `.venv` whose interpreter exists; nothing is installed in it."""
    uv = environment.find_uv()
    assert uv, "uv is part of mlprod's dev extra"
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(project / ".venv")], check=True
    )
    return environment.venv_python(project / ".venv")


def recorded(version: str = "0.1.0", factor: float = 1.0) -> dict[str, Any]:
    """The recorded result, as `version`, every timing sample multiplied by `factor`."""
    result = json.loads(RECORDED.read_text())
    result = copy.deepcopy(result)
    result["model"]["version"] = version
    for key in ("load_s", "import_s", "process_s"):
        result["load"][key]["samples"] = [v * factor for v in result["load"][key]["samples"]]
    for batch in result["predict"]:
        batch["latency_s"]["samples"] = [v * factor for v in batch["latency_s"]["samples"]]
    return result


def saved(path: Path, result: dict[str, Any]) -> Path:
    path.write_text(json.dumps(result))
    return path


def test_help_lists_the_options_and_exit_codes(runner: CliRunner) -> None:
    result = benchmark(runner, "--help")
    assert result.exit_code == 0
    for option in ("--python", "--batch-sizes", "--save-baseline", "--compare", "--baseline"):
        assert option in result.stdout
    assert "3 a figure regressed beyond --max-regression" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--batch-sizes", "1,0"],
            "--batch-sizes: '0' is not a positive whole number; give sizes like 1,8,64,512",
        ),
        (
            ["--batch-sizes", "8,-64"],
            "--batch-sizes: '-64' is not a positive whole number; give sizes like 1,8,64,512",
        ),
        (["--runs", "0"], "--runs must be a positive whole number, got 0"),
        (["--load-runs", "-2"], "--load-runs must be a positive whole number, got -2"),
        (["--min-time", "0"], "--min-time must be a positive number of seconds, got 0"),
        (
            ["--max-regression", "ten"],
            "--max-regression expects a percentage like 10%, got 'ten'",
        ),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(
    runner: CliRunner, project: Path, args: list[str], message: str
) -> None:
    result = benchmark(runner, "--project", project, *args)
    assert one_line_error(result) == f"mlprod: {message}"


def test_a_folder_that_is_not_a_project_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    result = benchmark(runner, "--project", tmp_path)
    assert one_line_error(result) == (
        f"mlprod: {tmp_path} is not an mlprod project: {tmp_path / 'pyproject.toml'} has no "
        "[tool.mlprod] table; pass the folder of a project made by `mlprod new`"
    )


def test_no_trained_model_says_to_train(runner: CliRunner, project: Path) -> None:
    (project / "models" / f"{NAME}-0.1.0.json").unlink()
    result = benchmark(runner, "--project", project)
    assert one_line_error(result) == (
        f"mlprod: no trained {NAME} model in {project / 'models'}; train one first (`{NAME} train`)"
    )


def test_an_unknown_version_is_refused(runner: CliRunner, project: Path) -> None:
    result = benchmark(runner, "--project", project, "--model-version", "2.0.0")
    assert one_line_error(result) == (
        f"mlprod: --model-version 2.0.0: {NAME} 2.0.0 is not trained (trained: 0.1.0)"
    )


def test_a_missing_virtual_environment_says_how_to_make_one(
    runner: CliRunner, project: Path
) -> None:
    result = benchmark(runner, "--project", project)
    venv = project / ".venv"
    assert one_line_error(result) == (
        f"mlprod: no virtual environment at {venv}; create one with the project installed "
        f"(`uv venv {venv} && uv pip install --python {venv / 'bin' / 'python'} "
        f"-e '{project}[dev]'`) or pass --python"
    )


def test_a_missing_interpreter_is_refused(runner: CliRunner, project: Path) -> None:
    result = benchmark(runner, "--project", project, "--python", project / "nope" / "python")
    assert (
        one_line_error(result) == f"mlprod: --python {project / 'nope' / 'python'} does not exist"
    )


def test_an_interpreter_without_the_project_is_refused(runner: CliRunner, project: Path) -> None:
    # This test environment's Python runs the real runner; the project is not installed here.
    python = Path(sys.executable)
    result = benchmark(runner, "--project", project, "--python", python)
    assert one_line_error(result) == (
        f"mlprod: {python} cannot import credit_risk_scorer: install the project there "
        f"(`uv pip install --python {python} -e '{project}[dev]'`) or pass --python"
    )


def test_an_environment_without_pyperf_names_the_fix(
    runner: CliRunner, project: Path, venv: Path
) -> None:
    site = next((project / ".venv" / "lib").glob("python3*/site-packages"))
    (site / "credit_risk_scorer").mkdir()
    (site / "credit_risk_scorer" / "__init__.py").write_text("")
    result = benchmark(runner, "--project", project)
    assert one_line_error(result) == (
        f"mlprod: pyperf is not installed in {venv}'s environment; install the project's dev "
        f"extra there (`uv pip install --python {venv} -e '{project}[dev]'`)"
    )


def test_a_json_path_in_a_missing_folder_is_refused_before_measuring(
    runner: CliRunner, project: Path, venv: Path
) -> None:
    target = project / "missing" / "out.json"
    result = benchmark(runner, "--project", project, "--json", target)
    assert one_line_error(result) == (
        f"mlprod: --json {target}: the folder {project / 'missing'} does not exist"
    )


def test_compare_without_an_earlier_baseline_is_refused(
    runner: CliRunner, project: Path, venv: Path
) -> None:
    result = benchmark(runner, "--project", project, "--compare")
    assert one_line_error(result) == (
        f"mlprod: no baseline of a {NAME} version before 0.1.0 in {project / 'benchmarks'} "
        "(saved: none); save one with --save-baseline while benchmarking that version, "
        "or pass --baseline PATH"
    )


def test_a_baseline_that_is_not_a_result_is_refused(
    runner: CliRunner, project: Path, venv: Path
) -> None:
    other = saved(project / "other.json", {"benchmarks": []})
    result = benchmark(runner, "--project", project, "--baseline", other)
    assert one_line_error(result) == f"mlprod: --baseline {other} is not an mlprod benchmark result"


def test_from_json_refuses_measuring_options(runner: CliRunner, tmp_path: Path) -> None:
    result = benchmark(runner, "--from-json", RECORDED, "--runs", "3")
    assert one_line_error(result) == (
        "mlprod: --from-json reads a result measured before; --runs would change nothing, "
        "leave it out"
    )


def test_from_json_prints_the_recorded_tables(runner: CliRunner) -> None:
    result = benchmark(runner, "--from-json", RECORDED)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{NAME} 0.1.0 (scikit-learn 1.9.1) on Python 3.11.7\n")
    assert "Load, 5 fresh processes" in result.stdout
    assert "Predict latency per batch" in result.stdout


def test_a_slower_result_exits_with_the_regression_code(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the baseline is outside the current folder: shown in full
    slower = saved(tmp_path / "slower.json", recorded("0.2.0", factor=1.5))
    result = benchmark(runner, "--from-json", slower, "--baseline", RECORDED)
    assert result.exit_code == 3, result.output
    assert f"\nCompared with {RECORDED}\n" in result.stdout
    table = result.stdout.split("\nCompared with ")[1].splitlines()
    load = next(line for line in table if line.strip().startswith("load time "))
    assert load.split()[-2:] == ["not", "significant"]  # +50%, but 5 noisy samples a side
    assert result.stderr == (
        "mlprod: 4 figures regressed by more than 10%: "
        "batch 1 latency; batch 1 rows/s; batch 64 latency; batch 64 rows/s\n"
    )


def test_an_equal_result_exits_zero(runner: CliRunner, tmp_path: Path) -> None:
    equal = saved(tmp_path / "equal.json", recorded("0.2.0"))
    result = benchmark(runner, "--from-json", equal, "--baseline", RECORDED)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\nNo figure regressed by more than 10%.\n")
    assert result.stderr == ""


def test_a_larger_allowed_regression_lets_a_slower_result_pass(
    runner: CliRunner, tmp_path: Path
) -> None:
    slower = saved(tmp_path / "slower.json", recorded("0.2.0", factor=1.5))
    result = benchmark(
        runner, "--from-json", slower, "--baseline", RECORDED, "--max-regression", "60%"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\nNo figure regressed by more than 60%.\n")


def test_compare_defaults_to_the_previous_versions_baseline(
    runner: CliRunner, project: Path, tmp_path: Path
) -> None:
    (project / "benchmarks").mkdir()
    saved(project / "benchmarks" / f"{NAME}-0.1.0.json", recorded("0.1.0"))
    saved(project / "benchmarks" / f"{NAME}-0.0.9.json", recorded("0.0.9", factor=0.1))
    current = saved(tmp_path / "current.json", recorded("0.2.0", factor=1.5))
    result = benchmark(runner, "--project", project, "--from-json", current, "--compare")
    assert result.exit_code == 3, result.output
    assert f"Compared with {project / 'benchmarks' / f'{NAME}-0.1.0.json'}" in result.stdout


def test_save_baseline_keeps_the_result_under_benchmarks(
    runner: CliRunner, project: Path, tmp_path: Path
) -> None:
    current = saved(tmp_path / "current.json", recorded("0.2.0"))
    result = benchmark(runner, "--project", project, "--from-json", current, "--save-baseline")
    assert result.exit_code == 0, result.output
    kept = project / "benchmarks" / f"{NAME}-0.2.0.json"
    assert result.stdout.endswith(f"\nWrote {kept}\n")
    assert json.loads(kept.read_text()) == json.loads(current.read_text())


def test_nothing_is_written_when_a_check_fails(
    runner: CliRunner, project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    result = benchmark(
        runner, "--project", project, "--model-version", "9.0.0", "--json", out, "--save-baseline"
    )
    assert result.exit_code == 1
    assert not out.exists()
    assert not (project / "benchmarks").exists()
