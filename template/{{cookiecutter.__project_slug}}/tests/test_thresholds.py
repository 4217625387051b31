"""The validity gate: [tool.mlprod.thresholds] is parsed strictly and checked by training."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model.config import read_project_thresholds
from {{ cookiecutter.__package_name }}.model.errors import ValidityError
from {{ cookiecutter.__package_name }}.model.manifest import Manifest
from {{ cookiecutter.__package_name }}.model.thresholds import (
    Bound,
    Thresholds,
    ThresholdsError,
)
from {{ cookiecutter.__package_name }}.model.train import (
    DEFAULT_SEED,
    ProjectConfig,
    ProjectConfigError,
    evaluate,
    find_project_config,
    train,
)

from contract import unmet, with_thresholds

SOURCE = "[tool.mlprod.thresholds] in pyproject.toml"
METRICS = {"accuracy": 0.9, "log_loss": 0.3}


def write_pyproject(directory: Path, thresholds: str) -> Path:
    path = directory / "pyproject.toml"
    path.write_text(
        '[tool.mlprod]\nmodel_name = "iris"\nmodel_version = "1.0.0"\n\n'
        f"[tool.mlprod.thresholds]\n{thresholds}"
    )
    return path


def test_min_and_max_bounds_are_parsed_from_their_keys() -> None:
    thresholds = Thresholds.from_table({"min_accuracy": 0.9, "max_log_loss": 1}, SOURCE)
    assert thresholds.bounds == (
        Bound(key="min_accuracy", kind="min", metric="accuracy", limit=0.9),
        Bound(key="max_log_loss", kind="max", metric="log_loss", limit=1.0),
    )
    assert thresholds.to_dict() == {"min_accuracy": 0.9, "max_log_loss": 1.0}
    assert thresholds.describe() == "min_accuracy 0.9, max_log_loss 1.0"


@pytest.mark.parametrize(
    ("table", "failures"),
    [
        ({"min_accuracy": 0.9, "max_log_loss": 0.3}, []),
        ({"min_accuracy": 0.95}, ["accuracy 0.9 < min_accuracy 0.95"]),
        ({"max_log_loss": 0.25}, ["log_loss 0.3 > max_log_loss 0.25"]),
        (
            {"min_accuracy": 1, "max_log_loss": 0},
            ["accuracy 0.9 < min_accuracy 1.0", "log_loss 0.3 > max_log_loss 0.0"],
        ),
        (
            {"min_auc": 0.8},
            ["min_auc: no metric 'auc' to check (the model has accuracy, log_loss)"],
        ),
    ],
    ids=["met-at-the-limit", "below-min", "above-max", "both", "unknown-metric"],
)
def test_each_failed_bound_names_its_metric(table: dict[str, float], failures: list[str]) -> None:
    assert Thresholds.from_table(table, SOURCE).violations(METRICS) == failures


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"accuracy": 0.9}, "accuracy: name a bound min_<metric> or max_<metric>"),
        ({"min_": 0.9}, "min_: name a bound min_<metric> or max_<metric>"),
        ({"min_accuracy": "high"}, "min_accuracy: must be a finite number, got 'high'"),
        ({"min_accuracy": True}, "min_accuracy: must be a finite number, got True"),
        ({"max_log_loss": float("inf")}, "max_log_loss: must be a finite number, got inf"),
    ],
    ids=["no-prefix", "no-metric", "string", "boolean", "infinite"],
)
def test_a_bad_bound_is_refused_naming_its_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ThresholdsError, match=f"^\\[tool.mlprod.thresholds\\] {message}"):
        Thresholds.from_table(table, SOURCE)


def test_the_project_config_carries_its_thresholds(tmp_path: Path) -> None:
    write_pyproject(tmp_path, "min_accuracy = 0.8\n")
    assert find_project_config(tmp_path).thresholds == Thresholds(
        bounds=(Bound("min_accuracy", "min", "accuracy", 0.8),), source=SOURCE
    )


def test_a_bad_threshold_in_the_project_is_refused_naming_the_file(tmp_path: Path) -> None:
    pyproject = write_pyproject(tmp_path, "accuracy = 0.8\n")
    with pytest.raises(ProjectConfigError) as excinfo:
        find_project_config(tmp_path)
    assert str(excinfo.value) == (
        f"{pyproject}: [tool.mlprod.thresholds] accuracy: "
        "name a bound min_<metric> or max_<metric>, e.g. min_accuracy"
    )


def test_thresholds_that_are_not_a_table_are_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.mlprod]\nmodel_name = "iris"\nmodel_version = "1.0.0"\n')
    pyproject.write_text(pyproject.read_text() + "thresholds = 0.9\n")
    with pytest.raises(ProjectConfigError, match=r"\[tool.mlprod.thresholds\] must be a table"):
        find_project_config(tmp_path)


def test_the_server_reads_no_thresholds_from_a_missing_or_foreign_pyproject(
    tmp_path: Path,
) -> None:
    assert read_project_thresholds(tmp_path / "pyproject.toml") is None
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'other'\n")
    assert read_project_thresholds(tmp_path / "pyproject.toml") is None


def test_the_generated_project_sets_a_bound_on_a_metric_of_its_task(
    project: ProjectConfig, manifest: Manifest
) -> None:
    assert project.thresholds.bounds
    assert {bound.metric for bound in project.thresholds.bounds} <= set(manifest.metrics)


# Training ---------------------------------------------------------------------------------


def test_training_records_the_thresholds_it_checked(tmp_path: Path, project: ProjectConfig) -> None:
    manifest = train(project, tmp_path, seed=0)
    assert manifest.thresholds == project.thresholds.to_dict()


def test_training_registers_no_model_below_a_threshold(
    tmp_path: Path, project: ProjectConfig, manifest: Manifest
) -> None:
    bound, limit, violation = unmet(manifest.metrics)
    strict = replace(project, thresholds=Thresholds.from_table({bound: limit}, SOURCE))
    with pytest.raises(ValidityError) as excinfo:
        train(strict, tmp_path / "models", version="1.0.0", seed=0)
    assert str(excinfo.value) == (
        f"{project.model_name} 1.0.0 fails its thresholds ({SOURCE}): {violation}; "
        "not registered: improve the model or its data, or change the threshold, "
        "then train again"
    )
    assert not (tmp_path / "models").exists()


def test_cli_train_reports_a_failed_threshold_in_one_line_and_writes_nothing(
    tmp_path: Path,
    project: ProjectConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pyproject = project.root / "pyproject.toml"
    bound, limit, violation = unmet(evaluate(project, seed=DEFAULT_SEED).metrics)
    copy = tmp_path / "project"
    copy.mkdir()
    (copy / "pyproject.toml").write_text(with_thresholds(pyproject.read_text(), {bound: limit}))
    shutil.copytree(project.root / "data", copy / "data")
    monkeypatch.chdir(copy)
    assert cli.main(["train"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    # a network logs its epochs first (JSON lines, off a terminal); the error is one line
    progress, error = _progress_and_rest(captured.err)
    assert all(record["logger"].endswith(".progress") for record in progress)
    assert error.startswith(
        f"error: {project.model_name} {project.model_version} fails its thresholds ("
    )
    assert f"): {violation}; not registered: improve the model or its " in error
    assert error.count("\n") == 1
    assert not (copy / "models").exists()


def test_a_model_meeting_its_thresholds_exactly_is_registered(
    tmp_path: Path, project: ProjectConfig, manifest: Manifest
) -> None:
    metric, value = next(iter(manifest.metrics.items()))
    exact = Thresholds.from_table({f"min_{metric}": value}, SOURCE)
    trained = train(replace(project, thresholds=exact), tmp_path, seed=0)
    assert trained.metrics == manifest.metrics


def _progress_and_rest(stderr: str) -> tuple[list[dict[str, Any]], str]:
    """Training's progress records (JSON lines) and the rest of ``stderr``, as written."""
    progress, rest = [], []
    for line in stderr.splitlines(keepends=True):
        if line.startswith("{"):
            progress.append(json.loads(line))
        else:
            rest.append(line)
    return progress, "".join(rest)
