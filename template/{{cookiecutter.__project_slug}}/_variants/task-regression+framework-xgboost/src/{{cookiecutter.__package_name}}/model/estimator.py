"""The estimator: the one file to edit to bring your notebook's model.

`build` returns an unfitted XGBoost regressor. Its hyper-parameters come from
``[tool.mlprod.model.params]`` in ``pyproject.toml``, so trying another value is a
one-line change there. A ``random_state`` left unset is set to the training seed.

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

from sklearn.base import BaseEstimator
from xgboost import XGBRegressor

TRUSTED_TYPES = ["xgboost.sklearn.XGBRegressor", "xgboost.core.Booster"]
"""The types this estimator's model files hold beyond scikit-learn's and NumPy's."""


def build(params: dict[str, Any]) -> BaseEstimator:
    """The regressor to train, unfitted, with ``params`` from ``[tool.mlprod.model.params]``."""
    return XGBRegressor(**{**params, "n_jobs": 1})
