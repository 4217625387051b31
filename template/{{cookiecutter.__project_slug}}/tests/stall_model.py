"""A test-only way to make the served model hang, without a hook in the service's code.

`install` wraps `Predictor.predict` and `CompiledModel.predict` (the served runtime is
either) so that they sleep when a feature value reaches
`STALL_AT`. The harakiri test runs uWSGI with this folder on ``PYTHONPATH`` and
``UWSGI_IMPORT=stall_worker``, which installs it in every worker; the model file stays
an ordinary one (its loader trusts no test code), and nothing in ``src/`` knows.
With ``STALL_MARKER`` set to a path, the stalling worker writes its pid there first, so a
test can wait until the worker is truly stuck before it sends anything else.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from {{ cookiecutter.__package_name }}.model.base import Model
from {{ cookiecutter.__package_name }}.model.compiled import CompiledModel
from {{ cookiecutter.__package_name }}.model.predictor import Predictor

STALL_AT = 1e6
"""A feature value at least this large makes the model hang."""

STALL_SECONDS = 600.0
"""Longer than any harakiri a test sets: the request ends only when its worker is killed."""


def install() -> None:
    """Make every model in this process (native or compiled, whichever MODEL_RUNTIME
    serves) hang on a value of at least `STALL_AT`."""
    for model_type in (Predictor, CompiledModel):
        _stall(model_type)


def _stall(model_type: type[Model]) -> None:
    predict = model_type.predict

    def stalling_predict(self: Model, X: np.ndarray) -> Any:
        if any(isinstance(v, int | float) and v >= STALL_AT for v in X.ravel().tolist()):
            if marker := os.environ.get("STALL_MARKER"):
                Path(marker).write_text(str(os.getpid()))
            time.sleep(STALL_SECONDS)
        return predict(self, X)

    model_type.predict = stalling_predict  # type: ignore[method-assign]
