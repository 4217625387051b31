"""Training: reading data, the manifest it writes, project config, and the `train` command."""

from __future__ import annotations

import csv
import os
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model import registry
from {{ cookiecutter.__package_name }}.model.config import DataConfig
from {{ cookiecutter.__package_name }}.model.data import MAX_PROBLEMS, read_dataset
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.schema import Feature
from {{ cookiecutter.__package_name }}.model.thresholds import Thresholds
from {{ cookiecutter.__package_name }}.model.train import (
    Dataset,
    DatasetError,
    ProjectConfig,
    ProjectConfigError,
    evaluate,
    find_project_config,
    train,
)

from contract import CLASSIFIER


def write_csv(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="") as file:
        csv.writer(file).writerows(rows)
    return path


def test_the_manifest_has_every_field(manifest: Manifest, project: ProjectConfig) -> None:
    data = manifest.to_dict()
    assert list(data) == [
        "manifest_format",
        "name",
        "version",
        "created_at",
        "framework",
        "framework_version",
        "python_version",
        "git_commit",
        "git_dirty",
        "data",
        "split",
        "parameters",
        "metrics",
        "thresholds",
        "input_schema",
        "output",
        "artifact",
        "compiled",
        "not_compiled",
        "profile",
    ]
    assert (manifest.name, manifest.version) == (project.model_name, project.model_version)
    assert manifest.framework_version == metadata.version(manifest.framework)
    assert manifest.python_version == platform.python_version()
    created = datetime.fromisoformat(manifest.created_at)
    assert created.utcoffset() == timezone.utc.utcoffset(None)
    assert (manifest.git_commit is None) == (manifest.git_dirty is None)


def test_the_manifest_names_the_framework_that_was_trained(
    manifest: Manifest, predictor: Predictor
) -> None:
    assert manifest.framework == predictor.framework


def test_the_manifest_describes_data_and_split(
    manifest: Manifest, data_path: Path, dataset: Dataset, seed: int
) -> None:
    assert manifest.data == registry.TrainingData(
        file=data_path.name, sha256=registry.sha256_file(data_path), rows=len(dataset.y)
    )
    split = manifest.split
    assert (split.seed, split.test_size) == (seed, 0.2)
    assert split.train_rows + split.test_rows == len(dataset.y)
    assert split.test_rows == pytest.approx(0.2 * len(dataset.y), abs=1)


def test_the_metrics_are_the_tasks_and_in_range(manifest: Manifest) -> None:
    metrics = manifest.metrics
    if CLASSIFIER:
        assert {"accuracy", "f1_macro"} <= set(metrics) <= {
            "accuracy", "f1_macro", "log_loss", "roc_auc",
        }  # fmt: skip
        bounded = ("accuracy", "f1_macro", "roc_auc")
        assert all(0 <= metrics[name] <= 1 for name in bounded if name in metrics)
        assert metrics.get("log_loss", 0) >= 0
        assert ("roc_auc" in metrics) == (len(manifest.output.classes) == 2)
    else:
        assert set(metrics) == {"rmse", "mae", "r2"}
        assert metrics["rmse"] >= metrics["mae"] >= 0
        assert metrics["r2"] <= 1


def test_the_project_thresholds_are_met(manifest: Manifest, project: ProjectConfig) -> None:
    assert project.thresholds.violations(manifest.metrics) == []
    assert manifest.thresholds == project.thresholds.to_dict()


def test_the_manifest_describes_inputs_and_outputs(manifest: Manifest, dataset: Dataset) -> None:
    schema = manifest.input_schema
    assert schema == dataset.schema
    assert list(schema.example) == list(schema.names)
    assert manifest.output.task == ("classification" if CLASSIFIER else "regression")
    if CLASSIFIER:
        assert manifest.output.classes == np.unique(dataset.y).tolist()
    else:
        assert manifest.output.classes == []


# Reading data ----------------------------------------------------------------------------


def test_types_are_inferred_and_gaps_make_a_feature_nullable(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "pets.csv",
        [
            ["id", "legs", "weight", "colour", "age", "class"],
            [1, 4, 3.5, "black", 3, "cat"],
            [2, 2, 0.1, "", "", "bird"],
            [3, 4, "", "red", 7, "cat"],
        ],
    )
    dataset = read_dataset(path, "class", id_column="id")
    assert dataset.schema.features == (
        Feature("legs", "integer"),
        Feature("weight", "number", nullable=True),
        Feature("colour", "string", allowed=("black", "red"), nullable=True),
        Feature("age", "integer", nullable=True),
    )
    assert dataset.schema.example == {"legs": 4, "weight": 3.5, "colour": "black", "age": 3}
    assert dataset.X.dtype == object
    assert dataset.X[1].tolist()[2] == ""
    assert np.isnan(dataset.X[2, 1])
    assert dataset.y.tolist() == ["cat", "bird", "cat"]


def test_columns_are_chosen_by_name(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", [["a", "b", "c", "y"], [1, 2, 3, "p"], [2, 3, 4, "q"]])
    assert read_dataset(path, "y", features=["c", "a"]).schema.names == ("c", "a")
    assert read_dataset(path, "y", drop=["b"]).schema.names == ("a", "c")


def test_parquet_is_read_like_csv(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.5, 2.5, None], "s": ["x", None, "y"], "y": [0, 1, 0]})
    frame.to_parquet(tmp_path / "data.parquet")
    dataset = read_dataset(tmp_path / "data.parquet", "y")
    assert dataset.schema.features == (
        Feature("a", "number", nullable=True),
        Feature("s", "string", allowed=("x", "y"), nullable=True),
    )


def test_every_problem_is_reported_in_one_pass_naming_the_column_and_the_fix(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "data.csv",
        [
            ["when", "empty", "same", "bad name", "ok", "label"],
            ["2024-01-03", "", 1, 1, 1, "x"],
            ["2024-02-03", "", 1, 2, 2, ""],
            ["2024-03-03", "", 1, 3, 3, "x"],
        ],
    )
    with pytest.raises(DatasetError) as excinfo:
        read_dataset(path, "label")
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for expected in (
        "column 'when' holds dates (e.g. '2024-01-03'): drop it",
        "column 'empty' is empty in every row: drop it ([tool.mlprod.data] drop)",
        "column 'same' holds one value ('1') in every row",
        "column 'bad name' is not a usable feature name",
        "the target 'label' is empty in 1 rows (the first is data row 2): fill them in",
        "the target 'label' has one class ('x')",
    ):
        assert expected in message


def test_problems_are_reported_up_to_a_bound(tmp_path: Path) -> None:
    names = [f"c{i}" for i in range(MAX_PROBLEMS + 3)]
    rows = [[*names, "y"], *[[*(["same"] * len(names)), label] for label in "ab"]]
    with pytest.raises(DatasetError, match=r"; and 3 more problems$"):
        read_dataset(write_csv(tmp_path / "data.csv", rows), "y")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("a,b,label\n", "no rows under the header"),
        ("a,b\n1,2\n", "no target column 'label' \\(columns: 'a', 'b'\\)"),
        ("a,label\n1,x\n2,y\n", None),
        ("a,label\n1.5,x\n2,\n", "the target 'label' is empty in 1 rows"),
        ("a,label\ninf,x\n2,y\n", "column 'a' holds an infinite number"),
    ],
    ids=["empty", "header-only", "no-target", "fine", "target-gap", "infinite"],
)
def test_unusable_data_is_refused_naming_the_file(
    tmp_path: Path, content: str, message: str | None
) -> None:
    path = tmp_path / "data.csv"
    path.write_text(content)
    if message is None:
        assert read_dataset(path, "label").schema.names == ("a",)
        return
    with pytest.raises(DatasetError, match=message):
        read_dataset(path, "label")


def test_a_regression_target_must_be_numeric(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "data.csv", [["a", "y"], [1, "x"], [2, "z"]])
    with pytest.raises(DatasetError, match=r"regression predicts numbers; set \[tool.mlprod\]"):
        read_dataset(path, "y", task="regression")


def test_a_missing_data_file_and_an_unknown_format_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing\.csv: no such data file"):
        read_dataset(tmp_path / "missing.csv", "y")
    (tmp_path / "data.xlsx").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"unsupported file type \.xlsx; use CSV"):
        read_dataset(tmp_path / "data.xlsx", "y")


def test_a_categorical_feature_with_gaps_is_trained_and_recorded(
    tmp_path: Path, project: ProjectConfig
) -> None:
    rows: list[list[object]] = [["size", "colour", "target"]]
    rows += [
        [i % 5 if i % 7 else "", ["red", "blue", ""][i % 3], (i % 2) * 10 + i % 3]
        for i in range(60)
    ]
    data = DataConfig(path=write_csv(tmp_path / "data.csv", rows), target="target")
    toy = replace(project, data=data, thresholds=Thresholds(), model_name="toy")
    manifest = train(toy, tmp_path / "models", version="1.0.0")
    assert manifest.input_schema.features == (
        Feature("size", "integer", nullable=True),
        Feature("colour", "string", ("blue", "red"), nullable=True),
    )
    loaded = registry.load(tmp_path / "models", "toy", "1.0.0", Predictor)
    assert loaded.manifest == manifest


def test_too_few_rows_to_evaluate_is_refused(tmp_path: Path, project: ProjectConfig) -> None:
    path = write_csv(tmp_path / "tiny.csv", [["a", "label"], [1, 1], [2, 2], [3, 2]])
    tiny = replace(project, data=DataConfig(path=path, target="label"))
    with pytest.raises(DatasetError, match=r"tiny\.csv: cannot split it for evaluation"):
        train(tiny, tmp_path / "models", version="1.0.0")


def test_evaluating_registers_nothing(tmp_path: Path, project: ProjectConfig) -> None:
    result = evaluate(project, seed=0)
    assert set(result.metrics) == set(train(project, tmp_path, seed=0).metrics)
    assert result.metrics == registry.read_manifest(next(tmp_path.glob("*.json"))).metrics


def test_project_config_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlprod]\nmodel_name = "m"\nmodel_version = "1.2.3"\ntask = "regression"\n\n'
        '[tool.mlprod.data]\npath = "d/x.parquet"\ntarget = "y"\ndrop = ["z"]\nid = "key"\n\n'
        "[tool.mlprod.model.params]\nalpha = 0.5\n"
    )
    nested = tmp_path / "src" / "deep"
    nested.mkdir(parents=True)
    assert find_project_config(nested) == ProjectConfig(
        tmp_path,
        "m",
        "1.2.3",
        Thresholds(source="[tool.mlprod.thresholds] in pyproject.toml"),
        task="regression",
        data=DataConfig(path=tmp_path / "d" / "x.parquet", target="y", drop=("z",), id="key"),
        params={"alpha": 0.5},
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[project]\nname = 'x'\n", r"no \[tool.mlprod\] table"),
        ("[tool.mlprod]\nmodel_name = 'x'\n", "model_version must be a non-empty string"),
        ("[tool.mlprod\n", "pyproject.toml: "),
        (
            "[tool.mlprod]\nmodel_name = 'x'\nmodel_version = '1.0.0'\ntask = 'ranking'\n",
            "task 'ranking' is not one of classification, regression",
        ),
        (
            "[tool.mlprod]\nmodel_name = 'x'\nmodel_version = '1.0.0'\n[tool.mlprod.data]\n"
            "path = 'x.csv'\n",
            r"\[tool.mlprod.data\] target must name the column to predict",
        ),
        (
            "[tool.mlprod]\nmodel_name = 'x'\nmodel_version = '1.0.0'\n[tool.mlprod.data]\n"
            "path = 'x.csv'\ntarget = 'y'\ncolumns = []\n",
            "unknown keys columns",
        ),
    ],
    ids=["no-table", "no-version", "invalid-toml", "task", "no-target", "unknown-key"],
)
def test_unusable_project_config_is_refused(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(content)
    with pytest.raises(ProjectConfigError, match=message):
        find_project_config(tmp_path)


# The `train` command --------------------------------------------------------------------


@pytest.fixture
def in_project(monkeypatch: pytest.MonkeyPatch, project: ProjectConfig) -> None:
    monkeypatch.chdir(project.root)


@pytest.mark.usefixtures("in_project")
def test_cli_train_prints_the_metrics_and_the_two_files(
    tmp_path: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["train", "--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    stem = f"{project.model_name}-{project.model_version}"
    assert project.data is not None
    data = os.path.relpath(project.data.path, project.root)
    assert out.startswith(f"Trained {project.model_name} {project.model_version} on {data}\n")
    manifest = registry.read_manifest(tmp_path / f"{stem}.json")
    for metric, value in manifest.metrics.items():
        assert f"  {metric:<10} {value:.4f}\n" in out
    thresholds = f"met: {project.thresholds.describe()} ({project.thresholds.source})"
    assert f"thresholds {thresholds}\n" in out
    assert f"artifact   {tmp_path / stem}{Predictor.suffix}" in out
    assert f"manifest   {tmp_path / stem}.json" in out


@pytest.mark.usefixtures("in_project")
def test_cli_train_dry_run_prints_the_metrics_and_writes_nothing(
    tmp_path: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    assert cli.main(["train", "--dry-run", "--models-dir", str(models)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Evaluated {project.model_name} on ")
    assert "(dry run: nothing registered)" in out
    assert re.search(r"thresholds met: ", out)
    assert not models.exists()


@pytest.mark.usefixtures("in_project")
def test_cli_train_refuses_an_existing_version_and_says_to_bump(
    tmp_path: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["train", "--models-dir", str(tmp_path)]) == 0
    before = {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir()}
    capsys.readouterr()

    assert cli.main(["train", "--models-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    manifest = tmp_path / f"{project.model_name}-{project.model_version}.json"
    assert captured.out == ""
    assert captured.err == (
        f"error: {project.model_name} {project.model_version} already exists ({manifest}); "
        "artifacts are never overwritten: bump the model version first (`mlprod bump patch`)\n"
    )
    assert {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir()} == before


@pytest.mark.usefixtures("in_project")
def test_cli_train_reports_a_missing_data_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.csv"
    assert cli.main(["train", "--data", str(missing), "--models-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"error: {missing}: no such data file\n"


def test_cli_train_outside_a_project_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train"]) == 1
    assert capsys.readouterr().err.startswith("error: no pyproject.toml in ")


def test_the_console_script_is_installed(tmp_path: Path, project: ProjectConfig) -> None:
    script = Path(sys.executable).with_name("{{ cookiecutter.__project_slug }}")
    result = subprocess.run(
        [str(script), "train", "--models-dir", str(tmp_path)],
        cwd=project.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "thresholds met" in result.stdout
