"""A test-only way to make the served model hang, without a hook in the service's code.

`stalling` wraps a trained predictor's pipeline with a first step that sleeps when a
feature value reaches `STALL_AT`; the test saves the result as an ordinary registry
version. The artifact refers to this module by name, so a server loading it needs this
folder on its ``PYTHONPATH``; nothing in ``src/`` knows it exists.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

STALL_AT = 1e6
"""A feature value at least this large makes the model hang."""

STALL_SECONDS = 600.0
"""Longer than any harakiri a test sets: the request ends only when its worker is killed."""


def stall_on_sentinel(X: np.ndarray) -> np.ndarray:
    """Pass ``X`` through, after hanging if any value is at least `STALL_AT`."""
    if (np.asarray(X, dtype=float) >= STALL_AT).any():
        time.sleep(STALL_SECONDS)
    return X


def stalling(pipeline: Pipeline) -> Pipeline:
    """``pipeline`` with a first step that hangs on the sentinel value."""
    stall = FunctionTransformer(stall_on_sentinel).fit(np.zeros((1, pipeline.n_features_in_)))
    return Pipeline([("stall", stall), *pipeline.steps])
