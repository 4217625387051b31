"""The scikit-learn implementation of the model interface."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .base import InvalidInputError, Model

_JSON_SCALARS = (str, int, float, bool, type(None))


class Predictor(Model):
    """Standardized features into a logistic regression, as one scikit-learn Pipeline.

    Categorical features (column indices) are one-hot encoded. Artifacts are joblib
    files, which unpickle arbitrary code: the registry loads one only after its SHA-256
    matches the manifest.
    """

    framework = "scikit-learn"
    suffix = ".joblib"

    def __init__(
        self, *, categorical_features: Sequence[int] = (), random_state: int | None = None
    ) -> None:
        self.pipeline = _build_pipeline(categorical_features, random_state)

    def fit(self, X: np.ndarray, y: np.ndarray) -> Predictor:
        self.pipeline.fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        expected = self.pipeline.n_features_in_
        if X.ndim != 2 or X.shape[1] != expected:
            raise InvalidInputError(
                f"expected rows of {expected} features, got an array of shape {X.shape}"
            )
        numeric = X.dtype.kind == "f"
        if numeric and not np.isfinite(X).all():
            raise InvalidInputError("features must be finite numbers")
        try:
            # Finiteness is checked above; skipping scikit-learn's own check saves ~15%.
            # Finite values near the float limit overflow when scaled: refuse, don't warn.
            with sklearn.config_context(assume_finite=numeric), np.errstate(over="raise"):
                return self.pipeline.predict(X)
        except FloatingPointError as exc:
            raise InvalidInputError(f"feature values too large for the model ({exc})") from exc
        except ValueError as exc:  # scikit-learn's own input validation
            raise InvalidInputError(str(exc)) from exc

    def dump(self, path: Path) -> None:
        joblib.dump(self.pipeline, path)

    @classmethod
    def load(cls, path: Path) -> Predictor:
        pipeline = joblib.load(path)
        if not isinstance(pipeline, Pipeline):
            raise TypeError(f"{path.name} holds a {type(pipeline).__name__}, not a Pipeline")
        predictor = cls()
        predictor.pipeline = pipeline
        return predictor

    def params(self) -> dict[str, Any]:
        """The pipeline's scalar parameters (nested estimators are described by theirs)."""
        params = self.pipeline.get_params(deep=True)
        return {
            name: value
            for name, value in sorted(params.items())
            if isinstance(value, _JSON_SCALARS)
        }


def _build_pipeline(categorical_features: Sequence[int], random_state: int | None) -> Pipeline:
    classifier = LogisticRegression(max_iter=1000, random_state=random_state)
    if not categorical_features:
        return Pipeline([("scale", StandardScaler()), ("classify", classifier)])
    encode = ColumnTransformer(
        [("one_hot", OneHotEncoder(handle_unknown="ignore"), list(categorical_features))],
        remainder=StandardScaler(),
    )
    return Pipeline([("encode", encode), ("classify", classifier)])
