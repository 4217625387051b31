"""The estimator: the one file to edit to bring your notebook's model.

`build` returns an unfitted LightGBM classifier. Its hyper-parameters come from
``[tool.mlprod.model.params]`` in ``pyproject.toml``, so trying another value is a
one-line change there. A ``random_state`` left unset is set to the training seed.

The preprocessing in front of it (imputing missing values, one-hot encoding strings)
is built from the data by ``predictor.py``; trees need no scaling.

Threads: ``n_jobs`` (LightGBM's ``num_threads``) is pinned to 1 here, whatever the
params say: uWSGI runs one single-threaded worker per core, so more OpenMP threads
would only fight over the cores. ``verbose=-1`` keeps LightGBM's own log lines out of
the service's JSON log.

The model file stays data-only: skops stores the booster as LightGBM's text model (no
pickle), and loads only the types listed in `TRUSTED_TYPES` below.

After a change: bump the model version (``mlprod bump minor``), train, run the tests.
"""

from __future__ import annotations

from typing import Any

from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator

TRUSTED_TYPES = [
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.basic.Booster",
    "collections.OrderedDict",  # the booster's parameters
]
"""The types this estimator's model files hold beyond scikit-learn's and NumPy's."""


def build(params: dict[str, Any]) -> BaseEstimator:
    """The classifier to train, unfitted, with ``params`` from ``[tool.mlprod.model.params]``."""
    return LGBMClassifier(**{"verbose": -1, **params, "n_jobs": 1})
