"""The estimator: the one file to edit to bring your notebook's model.

`build` returns an unfitted XGBoost classifier. XGBoost learns classes numbered 0..n-1
only, so `LabelEncodedClassifier` numbers the labels for it and turns its answers back
into labels. Its hyper-parameters come from ``[tool.mlprod.model.params]`` in
``pyproject.toml``, so trying another value is a one-line change there. A
``random_state`` left unset is set to the training seed.

The preprocessing in front of it (imputing missing values, one-hot encoding strings)
is built from the data by ``predictor.py``; trees need no scaling.

Threads: ``n_jobs`` (XGBoost's ``nthread``) is pinned to 1 here, whatever the params
say. uWSGI runs one single-threaded worker per core, so more threads would only fight
over the cores; and XGBoost's predict is not thread-safe, so one thread per worker is
also what keeps it correct. Training uses one thread too, so it is reproducible.

The model file stays data-only: skops stores the booster as XGBoost's own serialized
bytes (no pickle), and loads only the types listed in `TRUSTED_TYPES` below.

After a change: bump the model version (``mlprod bump minor``), train, run the tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.preprocessing import LabelEncoder
from xgboost import XGBClassifier

TRUSTED_TYPES = [
    "xgboost.sklearn.XGBClassifier",
    "xgboost.core.Booster",
    f"{__name__}.LabelEncodedClassifier",
]
"""The types this estimator's model files hold beyond scikit-learn's and NumPy's."""


# scikit-learn ships no type information: its classes are Any to mypy.
class LabelEncodedClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """``estimator`` trained on the labels' numbers; answers (and ``classes_``) are labels."""

    def __init__(self, estimator: BaseEstimator) -> None:
        self.estimator = estimator

    def fit(self, X: np.ndarray, y: np.ndarray) -> LabelEncodedClassifier:
        encoder = LabelEncoder().fit(y)
        self.classes_: np.ndarray = encoder.classes_
        self.estimator_ = clone(self.estimator).fit(X, encoder.transform(y))
        self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        labels: np.ndarray = self.classes_[self.estimator_.predict(X)]
        return labels

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        # XGBoost computes in float32, whose rows sum to 1 only within ~1e-7: in float64,
        # normalized, they sum to 1 as the API promises.
        probabilities = self.estimator_.predict_proba(X).astype(np.float64)
        normalized: np.ndarray = probabilities / probabilities.sum(axis=1, keepdims=True)
        return normalized


def build(params: dict[str, Any]) -> BaseEstimator:
    """The classifier to train, unfitted, with ``params`` from ``[tool.mlprod.model.params]``."""
    return LabelEncodedClassifier(XGBClassifier(**{**params, "n_jobs": 1}))
