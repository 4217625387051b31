"""How well a model does on held-out rows: the metrics of its task.

Classification: ``accuracy``, ``f1_macro``, ``log_loss`` (when the model gives
probabilities) and, for two classes, ``roc_auc``. Regression: ``rmse``, ``mae``, ``r2``.
Thresholds (``[tool.mlprod.thresholds]``) name these, e.g. ``min_r2`` or ``max_rmse``.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics

from .base import InvalidInputError, Model
from .config import Task

DIGITS = 6


def evaluate(model: Model, task: Task, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The task's metrics of ``model`` on ``X`` and the true ``y``, rounded."""
    predicted = model.predict(X)
    if task == "regression":
        scores = {
            "rmse": metrics.root_mean_squared_error(y, predicted),
            "mae": metrics.mean_absolute_error(y, predicted),
            "r2": metrics.r2_score(y, predicted),
        }
    else:
        scores = {
            "accuracy": metrics.accuracy_score(y, predicted),
            "f1_macro": metrics.f1_score(y, predicted, average="macro"),
        }
        try:
            probabilities = model.predict_proba(X)
        except InvalidInputError:  # a classifier without probabilities
            probabilities = None
        if probabilities is not None:
            scores["log_loss"] = metrics.log_loss(y, probabilities, labels=model.classes)
            if len(model.classes) == 2 and len(np.unique(y)) == 2:
                scores["roc_auc"] = metrics.roc_auc_score(y, probabilities[:, 1])
    return {name: round(float(value), DIGITS) for name, value in scores.items()}
