"""Imported into each uWSGI worker by the batching tests (``UWSGI_IMPORT``): every model
call (native or compiled, `predict` and `predict_proba`) sleeps ``SLOW_MODEL_SECONDS``
first, whatever its rows, as a large ensemble's call costs about the same for one row as
for thirty. The model file stays an ordinary one; nothing in ``src/`` knows.
"""

import os
import time
from typing import Any

import numpy as np

from {{ cookiecutter.__package_name }}.model.base import Model
from {{ cookiecutter.__package_name }}.model.compiled import CompiledModel
from {{ cookiecutter.__package_name }}.model.predictor import Predictor

SECONDS = float(os.environ.get("SLOW_MODEL_SECONDS", "0.02"))


def _slow(model_type: type[Model], name: str) -> None:
    method = getattr(model_type, name)

    def slow_method(self: Model, X: np.ndarray) -> Any:
        time.sleep(SECONDS)  # holds the worker, as a model's own computation does
        return method(self, X)

    setattr(model_type, name, slow_method)


for _model_type in (Predictor, CompiledModel):
    _slow(_model_type, "predict")
    if hasattr(_model_type, "predict_proba"):
        _slow(_model_type, "predict_proba")
