"""The estimator: the one file to edit to bring your notebook's model.

`build` returns an unfitted scikit-learn classifier (anything with ``fit``, ``predict``
and, for probabilities, ``predict_proba``). Its hyper-parameters come from
``[tool.mlprod.model.params]`` in ``pyproject.toml``, so trying another value is a
one-line change there. A ``random_state`` left unset is set to the training seed.

The preprocessing in front of it (imputing missing values, one-hot encoding strings)
is built from the data by ``predictor.py``; scaling is yours to choose here, because
linear models want it and trees do not. For example::

    from sklearn.ensemble import RandomForestClassifier

    def build(params: dict[str, Any]) -> BaseEstimator:
        return RandomForestClassifier(**params)   # and params: n_estimators = 300

After a change: bump the model version (``mlprod bump minor``), train, run the tests.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

TRUSTED_TYPES: list[str] = []
"""The types this estimator's model files hold beyond scikit-learn's and NumPy's
(see `predictor.TRUSTED_TYPES`): e.g. none for a random forest, listed there already."""


def build(params: dict[str, Any]) -> BaseEstimator:
    """The classifier to train, unfitted, with ``params`` from ``[tool.mlprod.model.params]``."""
    return make_pipeline(StandardScaler(), LogisticRegression(**params))
