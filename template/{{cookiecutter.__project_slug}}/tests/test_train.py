"""Training: reading data, the manifest it writes, project config, and the `train` command."""

from __future__ import annotations

import csv
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sklearn

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model import registry
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.schema import Feature
from {{ cookiecutter.__package_name }}.model.thresholds import Thresholds
from {{ cookiecutter.__package_name }}.model.train import (
    DatasetError,
    ProjectConfig,
    ProjectConfigError,
    find_project_config,
    read_dataset,
    train,
)

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


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
    ]
    assert (manifest.name, manifest.version) == (project.model_name, project.model_version)
    assert (manifest.framework, manifest.framework_version) == ("scikit-learn", sklearn.__version__)
    assert manifest.python_version == platform.python_version()
    created = datetime.fromisoformat(manifest.created_at)
    assert created.utcoffset() == timezone.utc.utcoffset(None)
    assert (manifest.git_commit is None) == (manifest.git_dirty is None)


def test_the_manifest_describes_data_split_and_metrics(
    manifest: Manifest, data_path: Path, seed: int
) -> None:
    assert manifest.data == registry.TrainingData(
        file="iris.csv", sha256=registry.sha256_file(data_path), rows=150
    )
    assert manifest.split == registry.Split(seed=seed, test_size=0.2, train_rows=120, test_rows=30)
    assert set(manifest.metrics) == {"accuracy", "f1_macro"}
    assert all(0.85 <= value <= 1 for value in manifest.metrics.values())
    assert manifest.parameters["classify__random_state"] == seed


def test_the_manifest_describes_inputs_and_outputs(manifest: Manifest) -> None:
    schema = manifest.input_schema
    assert schema.features == tuple(Feature(name, "number") for name in IRIS_FEATURES)
    assert schema.example == dict(zip(IRIS_FEATURES, (5.1, 3.5, 1.4, 0.2), strict=True))
    assert manifest.output == registry.Output(
        task="classification", classes=["setosa", "versicolor", "virginica"]
    )


def test_types_are_inferred_and_strings_list_their_allowed_values(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "pets.csv",
        [["legs", "weight", "colour", "class"], [4, 3.5, "black", "cat"], [2, 0.1, "red", "bird"]],
    )
    dataset = read_dataset(path)
    assert dataset.schema.features == (
        Feature("legs", "integer"),
        Feature("weight", "number"),
        Feature("colour", "string", allowed=("black", "red")),
    )
    assert dataset.schema.example == {"legs": 4, "weight": 3.5, "colour": "black"}
    assert dataset.X.dtype == object
    assert dataset.y.tolist() == ["cat", "bird"]


def test_a_categorical_feature_is_trained_and_recorded(tmp_path: Path) -> None:
    rows: list[list[object]] = [["size", "colour", "label"]]
    rows += [[i % 5, "red" if i % 2 else "blue", "odd" if i % 2 else "even"] for i in range(40)]
    manifest = train(write_csv(tmp_path / "data.csv", rows), tmp_path / "models", "toy", "1.0.0")
    assert manifest.input_schema.features[1] == Feature("colour", "string", ("blue", "red"))
    assert manifest.metrics["accuracy"] == 1.0
    loaded = registry.load(tmp_path / "models", "toy", "1.0.0", Predictor)
    assert loaded.manifest == manifest


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("a,b,label\n", "no data rows"),
        ("label\nx\n", "needs feature columns and a target column"),
        ("a,a,label\n1,2,x\n", "duplicate column names"),
        ("a b,label\n1,x\n", "column 'a b' is not a usable feature name"),
        ("a,b,label\n1,2,x\n1,2\n", r"data.csv:3: 2 fields, the header has 3"),
        ("a,b,label\n1,,x\n", r"data.csv:2: empty value in column 'b'"),
        ("a,label\n1,x\nnan,y\n", "column 'a' holds a non-finite number"),
        ("a,label\n1,x\n2,x\n", "the target column 'label' needs two or more classes"),
    ],
    ids=[
        "empty",
        "header-only",
        "no-features",
        "duplicates",
        "bad-name",
        "ragged",
        "blank",
        "nan",
        "one-class",
    ],
)
def test_unusable_data_is_refused_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_dataset(path)


def test_a_missing_data_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing\.csv: no such data file"):
        train(tmp_path / "missing.csv", tmp_path / "models", "iris", "1.0.0")


def test_too_few_rows_per_class_to_evaluate_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tiny.csv", [["a", "label"], [1, "x"], [2, "y"], [3, "y"]])
    with pytest.raises(DatasetError, match=r"tiny\.csv: cannot split it for evaluation"):
        train(path, tmp_path / "models", "tiny", "1.0.0")


def test_project_config_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlprod]\nmodel_name = "iris"\nmodel_version = "1.2.3"\n'
    )
    nested = tmp_path / "src" / "deep"
    nested.mkdir(parents=True)
    assert find_project_config(nested) == ProjectConfig(
        tmp_path,
        "iris",
        "1.2.3",
        Thresholds(source="[tool.mlprod.thresholds] in pyproject.toml"),
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[project]\nname = 'x'\n", r"no \[tool.mlprod\] table"),
        ("[tool.mlprod]\nmodel_name = 'x'\n", "model_version must be a non-empty string"),
        ("[tool.mlprod\n", "pyproject.toml: "),
    ],
    ids=["no-table", "no-version", "invalid-toml"],
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
    assert out.startswith(f"Trained {project.model_name} {project.model_version} on data/iris.csv")
    assert re.search(r"accuracy\s+0\.\d{4}", out)
    assert re.search(r"f1_macro\s+0\.\d{4}", out)
    assert "thresholds met: min_accuracy 0.9 ([tool.mlprod.thresholds] in pyproject.toml)\n" in out
    assert f"artifact   {tmp_path / stem}.joblib" in out
    assert f"manifest   {tmp_path / stem}.json" in out


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
    assert "accuracy" in result.stdout
