"""A project's trained versions and manifests, and the rows `mlprod benchmark` feeds a model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from mlprod_cli.benchmarking.inputs import benchmark_inputs
from mlprod_cli.errors import UserError
from mlprod_cli.project import Project
from mlprod_cli.project.models import find_trained_model

NAME = "credit-risk-scorer"
FEATURES = [
    {"name": "size", "type": "number", "allowed": None},
    {"name": "rooms", "type": "integer", "allowed": None},
    {"name": "city", "type": "string", "allowed": ["Lyon", "Paris"]},
]
EXAMPLE = {"size": 50.5, "rooms": 2, "city": "Paris"}


def manifest(version: str, data_file: str = "homes.csv") -> dict[str, Any]:
    return {
        "name": NAME,
        "version": version,
        "framework": "scikit-learn",
        "data": {"file": data_file},
        "input_schema": {"features": FEATURES, "example": EXAMPLE},
    }


def make_project(root: Path, version: str = "0.2.0", trained: tuple[str, ...] = ()) -> Project:
    (root / "models").mkdir(parents=True)
    (root / "data").mkdir()
    for each in trained:
        (root / "models" / f"{NAME}-{each}.json").write_text(json.dumps(manifest(each)))
    return Project(
        root=root,
        slug=NAME,
        package="credit_risk_scorer",
        model_name=NAME,
        model_version=version,
    )


def test_the_default_version_is_the_one_in_pyproject(tmp_path: Path) -> None:
    project = make_project(tmp_path, "0.2.0", trained=("0.1.0", "0.2.0"))
    model = find_trained_model(project, None)
    assert (model.version, model.manifest_path.name) == ("0.2.0", f"{NAME}-0.2.0.json")
    assert model.schema.names == ["size", "rooms", "city"]


def test_another_trained_version_can_be_chosen(tmp_path: Path) -> None:
    project = make_project(tmp_path, "0.2.0", trained=("0.1.0", "0.2.0"))
    assert find_trained_model(project, "0.1.0").version == "0.1.0"


def test_no_trained_model_says_to_train(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (tmp_path / "models" / "other-model-1.0.0.json").write_text("{}")
    with pytest.raises(UserError) as error:
        find_trained_model(project, None)
    assert str(error.value) == (
        f"no trained {NAME} model in {tmp_path / 'models'}; train one first (`{NAME} train`)"
    )


def test_an_untrained_default_version_lists_the_trained_ones(tmp_path: Path) -> None:
    project = make_project(tmp_path, "0.3.0", trained=("0.1.0", "0.2.0"))
    with pytest.raises(UserError) as error:
        find_trained_model(project, None)
    assert str(error.value) == (
        f"{NAME} 0.3.0 (model_version in pyproject.toml) is not trained; train it "
        f"(`{NAME} train`) or pass --model-version (trained: 0.2.0, 0.1.0)"
    )


def test_an_unknown_version_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path, trained=("0.2.0",))
    with pytest.raises(UserError) as error:
        find_trained_model(project, "9.9.9")
    assert (
        str(error.value) == f"--model-version 9.9.9: {NAME} 9.9.9 is not trained (trained: 0.2.0)"
    )


def test_a_version_that_is_not_semver_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path, trained=("0.2.0",))
    with pytest.raises(UserError) as error:
        find_trained_model(project, "latest")
    assert str(error.value) == (
        "--model-version 'latest' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)"
    )


def test_a_manifest_without_an_input_schema_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path, trained=("0.2.0",))
    path = tmp_path / "models" / f"{NAME}-0.2.0.json"
    path.write_text(json.dumps({"name": NAME}))
    model = find_trained_model(project, None)
    with pytest.raises(UserError) as error:
        benchmark_inputs(project, model)
    assert str(error.value) == f"{path} is not a usable model manifest: no 'input_schema'"


def test_the_artifact_is_checked_against_its_manifest(tmp_path: Path) -> None:
    project = make_project(tmp_path, trained=("0.2.0",))
    path = tmp_path / "models" / f"{NAME}-0.2.0.json"
    artifact = tmp_path / "models" / f"{NAME}-0.2.0.joblib"
    artifact.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    path.write_text(
        json.dumps({**manifest("0.2.0"), "artifact": {"file": artifact.name, "sha256": digest}})
    )
    assert find_trained_model(project).verified_artifact() == artifact
    artifact.write_bytes(b"tampered")
    with pytest.raises(UserError, match="does not match the SHA-256"):
        find_trained_model(project).verified_artifact()


def test_rows_come_from_the_training_data_typed_by_the_schema(tmp_path: Path) -> None:
    project = make_project(tmp_path, trained=("0.2.0",))
    (tmp_path / "data" / "homes.csv").write_text(
        "city,rooms,size,price\n"
        "Lyon,3,70.5,high\n"
        "Nice,2,40,low\n"  # a city the schema does not allow: skipped
        "Paris,x,40,low\n"  # not an integer: skipped
        "Paris,1,nan,low\n"  # not finite: skipped
        "Paris,1,20,low\n"
    )
    inputs = benchmark_inputs(project, find_trained_model(project, None))
    assert inputs.source == "data/homes.csv"
    assert inputs.rows == [[70.5, 3, "Lyon"], [20.0, 1, "Paris"]]


def test_rows_are_capped(tmp_path: Path) -> None:
    project = make_project(tmp_path, trained=("0.2.0",))
    lines = "".join(f"{i}.5,{i},Lyon\n" for i in range(50))
    (tmp_path / "data" / "homes.csv").write_text("size,rooms,city\n" + lines)
    inputs = benchmark_inputs(project, find_trained_model(project, None), limit=10)
    assert len(inputs.rows) == 10


def test_another_data_file_with_the_features_is_used(tmp_path: Path) -> None:
    project = make_project(tmp_path, trained=("0.2.0",))
    (tmp_path / "data" / "a-unrelated.csv").write_text("x,y\n1,2\n")
    (tmp_path / "data" / "b-homes.csv").write_text("size,rooms,city\n33,1,Paris\n")
    inputs = benchmark_inputs(project, find_trained_model(project, None))
    assert (inputs.source, inputs.rows) == ("data/b-homes.csv", [[33.0, 1, "Paris"]])


def test_without_usable_data_the_schemas_example_is_used(tmp_path: Path) -> None:
    project = make_project(tmp_path, trained=("0.2.0",))
    inputs = benchmark_inputs(project, find_trained_model(project, None))
    assert (inputs.source, inputs.rows) == ("the manifest's example", [[50.5, 2, "Paris"]])
