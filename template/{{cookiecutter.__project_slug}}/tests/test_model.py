"""The predictor behind the model interface: the project's estimator with its preprocessing."""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.__package_name }}.model import estimator, registry
from {{ cookiecutter.__package_name }}.model.base import (
    InvalidInputError,
    UnsafeModelFileError,
)
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.registry import Manifest, UnsafeArtifactError
from {{ cookiecutter.__package_name }}.model.schema import Feature, InputSchema
from {{ cookiecutter.__package_name }}.model.train import Dataset, ProjectConfig

from contract import CLASSIFIER

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def test_fit_returns_the_model(project: ProjectConfig, dataset: Dataset) -> None:
    model = Predictor.build(dataset.schema, estimator.build(dict(project.params)))
    assert model.fit(dataset.X, dataset.y) is model


def test_predict_returns_one_answer_of_the_tasks_kind_per_row(
    predictor: Predictor, dataset: Dataset
) -> None:
    predictions = predictor.predict(dataset.X[:7])
    assert predictions.shape == (min(7, len(dataset.y)),)
    if CLASSIFIER:
        assert set(predictions.tolist()) <= set(np.unique(dataset.y).tolist())
    else:
        assert predictions.dtype.kind == "f"
        assert np.isfinite(predictions).all()


def test_dump_and_load_round_trip_gives_identical_answers(
    predictor: Predictor, dataset: Dataset, tmp_path: Path
) -> None:
    path = tmp_path / f"model{Predictor.suffix}"
    predictor.dump(path)
    loaded = Predictor.load(path)
    assert isinstance(loaded, Predictor)
    np.testing.assert_array_equal(loaded.predict(dataset.X), predictor.predict(dataset.X))
    if CLASSIFIER:
        np.testing.assert_array_equal(
            loaded.predict_proba(dataset.X), predictor.predict_proba(dataset.X)
        )
        assert loaded.classes == predictor.classes


def test_probabilities_are_one_row_per_instance_summing_to_one(
    predictor: Predictor, dataset: Dataset
) -> None:
    if not CLASSIFIER:
        with pytest.raises(InvalidInputError, match="class probabilities"):
            predictor.predict_proba(dataset.X[:3])
        return
    probabilities = predictor.predict_proba(dataset.X[:9])
    assert probabilities.shape == (min(9, len(dataset.y)), len(predictor.classes))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_the_framework_is_what_was_trained(predictor: Predictor, project: ProjectConfig) -> None:
    # [tool.mlprod] framework is the import name (pytorch's is torch); the manifest names
    # its distribution (scikit-learn, xgboost-cpu, lightgbm, torch...), the one providing it.
    with (project.root / "pyproject.toml").open("rb") as file:
        framework = tomllib.load(file)["tool"]["mlprod"]["framework"]
    imported = {"pytorch": "torch"}.get(framework, framework)
    assert predictor.framework in metadata.packages_distributions()[imported]


def test_load_refuses_a_file_that_is_not_a_skops_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-model.skops"
    path.write_bytes(b"plain bytes")
    with pytest.raises(UnsafeModelFileError, match=r"not-a-model\.skops is not a skops model file"):
        Predictor.load(path)


class _Payload:
    """A pickle that creates ``path`` when it is loaded: code run by deserializing."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.path), "w")


def test_a_planted_pickle_payload_is_refused_and_nothing_runs(
    models_dir: Path, manifest: Manifest, tmp_path: Path
) -> None:
    # The payload is real: plain unpickling runs it and writes its file.
    proof = tmp_path / "written-by-pickle"
    pickle.loads(pickle.dumps(_Payload(proof))).close()
    assert proof.exists()
    # Planted as the artifact, with the manifest's hash updated to match (as someone who
    # can write the registry would), it passes the integrity gate and is refused at load.
    planted = Path(shutil.copytree(models_dir, tmp_path / "models"))
    marker = tmp_path / "written-by-payload"
    artifact = planted / manifest.artifact.file
    artifact.write_bytes(pickle.dumps(_Payload(marker)))
    path = registry.manifest_path(planted, manifest.name, manifest.version)
    data = json.loads(path.read_text())
    data["artifact"]["sha256"] = registry.sha256_file(artifact)
    path.write_text(json.dumps(data))
    with pytest.raises(UnsafeArtifactError, match="refusing to load it"):
        registry.load(planted, manifest.name, manifest.version, Predictor)
    assert not marker.exists()


def _planted_function(X: np.ndarray) -> np.ndarray:
    return X


def test_a_skops_file_holding_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "untrusted.skops"
    skops.io.dump(FunctionTransformer(_planted_function), path)
    with pytest.raises(UnsafeModelFileError, match="holds types nobody trusted"):
        Predictor.load(path)


def test_predict_rejects_input_the_model_cannot_take(
    predictor: Predictor, dataset: Dataset
) -> None:
    width = dataset.X.shape[1]
    with pytest.raises(InvalidInputError, match=rf"expected rows of {width} features"):
        predictor.predict(dataset.X[:2, :-1])
    with pytest.raises(InvalidInputError, match=rf"expected rows of {width} features"):
        predictor.predict(dataset.X[0])


def test_params_are_json_safe_and_describe_the_estimator(
    predictor: Predictor, project: ProjectConfig
) -> None:
    params = predictor.params()
    assert json.loads(json.dumps(params)) == params
    for key, value in project.params.items():
        assert any(name == key or name.endswith(f"__{key}") for name in params), key
        assert value in params.values()


# Preprocessing, on a small data set of every kind of column --------------------------------

MIXED = InputSchema(
    features=(
        Feature("size", "number", nullable=True),
        Feature("legs", "integer"),
        Feature("colour", "string", allowed=("blue", "red"), nullable=True),
    ),
    example={"size": 1.0, "legs": 2, "colour": "red"},
)


def mixed_rows() -> tuple[np.ndarray, np.ndarray]:
    X = np.array(
        [[1.0, 2, "red"], [1.1, 2, ""], [np.nan, 2, "red"], [5.0, 4, "blue"], [5.2, 4, "blue"]] * 4,
        dtype=object,
    )
    y = np.array(["small", "small", "small", "big", "big"] * 4)
    return X, y


def test_gaps_and_strings_are_imputed_and_one_hot_encoded_in_the_pipeline() -> None:
    X, y = mixed_rows()
    model = Predictor.build(MIXED, LogisticRegression()).fit(X, y)
    assert model.predict(X).tolist() == y.tolist()
    unseen = np.array([[1.05, 2, "green"], [5.1, 4, ""], [np.nan, 2, "red"]], dtype=object)
    assert model.predict(unseen).tolist() == ["small", "big", "small"]


def test_clean_numbers_get_no_preprocessing_step() -> None:
    # Every step costs time on every request: data without gaps or strings needs none.
    schema = InputSchema(features=(Feature("a", "number"), Feature("b", "integer")), example={})
    model = Predictor.build(schema, LogisticRegression())
    assert [name for name, _ in model.pipeline.steps] == ["estimator"]


def test_nan_is_refused_where_the_model_imputes_nothing() -> None:
    schema = InputSchema(features=(Feature("a", "number"),), example={})
    model = Predictor.build(schema, LogisticRegression())
    model.fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
    with pytest.raises(InvalidInputError, match="trained without gaps"):
        model.predict(np.array([[np.nan]]))
    with pytest.raises(InvalidInputError, match="finite numbers"):
        model.predict(np.array([[np.inf]]))
