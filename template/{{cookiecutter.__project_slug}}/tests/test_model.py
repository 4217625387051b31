"""The scikit-learn predictor behind the model interface."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from {{ cookiecutter.__package_name }}.model.base import InvalidInputError
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.train import Dataset


@pytest.fixture(scope="module")
def predictor(iris: Dataset) -> Predictor:
    return Predictor(random_state=0).fit(iris.X, iris.y)


def test_fit_returns_the_model(iris: Dataset) -> None:
    model = Predictor(random_state=0)
    assert model.fit(iris.X, iris.y) is model


def test_predict_returns_one_known_class_per_row(predictor: Predictor, iris: Dataset) -> None:
    predictions = predictor.predict(iris.X[:7])
    assert predictions.shape == (7,)
    assert set(predictions) <= {"setosa", "versicolor", "virginica"}
    assert (predictor.predict(iris.X) == iris.y).mean() > 0.9


def test_dump_and_load_round_trip_gives_identical_predictions(
    predictor: Predictor, iris: Dataset, tmp_path: Path
) -> None:
    path = tmp_path / f"model{Predictor.suffix}"
    predictor.dump(path)
    loaded = Predictor.load(path)
    assert isinstance(loaded, Predictor)
    np.testing.assert_array_equal(loaded.predict(iris.X), predictor.predict(iris.X))


def test_load_refuses_a_file_that_holds_no_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "not-a-model.joblib"
    joblib.dump({"weights": [1, 2, 3]}, path)
    with pytest.raises(TypeError, match=r"not-a-model\.joblib holds a dict"):
        Predictor.load(path)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.ones((2, 3)), r"expected rows of 4 features, got an array of shape \(2, 3\)"),
        (np.ones(4), r"expected rows of 4 features, got an array of shape \(4,\)"),
        (np.array([[1.0, 2.0, np.nan, 4.0]]), "features must be finite numbers"),
        (np.array([[1.0, 2.0, np.inf, 4.0]]), "features must be finite numbers"),
        (np.array([["a", "b", "c", "d"]], dtype=object), "could not convert"),
    ],
    ids=["too-few-features", "one-dimensional", "nan", "infinity", "strings"],
)
def test_predict_rejects_input_the_model_cannot_take(
    predictor: Predictor, rows: np.ndarray, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        predictor.predict(rows)


def test_invalid_input_error_is_a_value_error() -> None:
    assert issubclass(InvalidInputError, ValueError)


def test_params_are_json_safe_and_describe_the_estimator(predictor: Predictor) -> None:
    params = predictor.params()
    assert json.loads(json.dumps(params)) == params
    assert params["classify__max_iter"] == 1000
    assert params["classify__random_state"] == 0


def test_categorical_features_are_one_hot_encoded() -> None:
    X = np.array([[1.0, "red"], [1.1, "red"], [5.0, "blue"], [5.2, "blue"]], dtype=object)
    y = np.array(["small", "small", "big", "big"])
    model = Predictor(categorical_features=[1], random_state=0).fit(X, y)
    unseen_colour = np.array([[1.05, "green"]], dtype=object)
    assert model.predict(X).tolist() == y.tolist()
    assert model.predict(unseen_colour).tolist() == ["small"]
