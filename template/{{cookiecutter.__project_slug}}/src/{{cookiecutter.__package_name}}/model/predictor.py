"""The scikit-learn implementation of the model interface: preprocessing + your estimator.

The saved pipeline is the whole model: the preprocessing the data needs (built here
from the input schema) in front of the estimator `estimator.build` returns. Only what
the data needs is added, because every step costs time on every request:

- numbers with gaps in the training data: mean imputation (all numeric columns);
- string (categorical) columns: one-hot encoding, unseen categories ignored (all zeros);
  with gaps, a constant imputation first, whose missing value is ``""`` (see
  `schema.MISSING_STRING`).

Scaling belongs to the estimator (`estimator.py`): linear models want it, trees do not.

Artifacts are skops files: a data-only format whose loader builds only the types it
trusts. scikit-learn's own and NumPy's are trusted by skops itself; `TRUSTED_TYPES`
lists, explicitly, the few more this project's models need, with those its estimator
declares (`estimator.TRUSTED_TYPES`: an XGBoost or LightGBM booster, stored in its own
data-only format, not pickled). Anything else in a file
(a planted pickle payload, say) is refused before any of it runs.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from . import estimator as estimator_module
from .base import InvalidInputError, Model, UnsafeModelFileError
from .schema import MISSING_STRING, InputSchema

TRUSTED_TYPES = [
    "numpy.dtype",  # the dtypes of fitted arrays
    "sklearn.tree._tree.Tree",  # decision trees, random forests, extra trees
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # HistGradientBoosting*
    *estimator_module.TRUSTED_TYPES,
]
"""Types beyond skops' defaults that a model file may hold. Add one only when you trust it:
skops names any other in its refusal."""
FILLED_STRING = "(missing)"
"""The category a missing string value becomes before one-hot encoding."""
_ESTIMATOR_STEP = "estimator"
_PREPROCESSING_STEPS = ("impute", "prepare")
_JSON_SCALARS = (str, int, float, bool, type(None))
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


class Predictor(Model):
    """A scikit-learn Pipeline: the schema's preprocessing, then the estimator."""

    suffix = ".skops"

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._imputes = any(
            isinstance(value, SimpleImputer) for value in pipeline.get_params(deep=True).values()
        )

    @classmethod
    def build(cls, schema: InputSchema, estimator: BaseEstimator) -> Predictor:
        """An unfitted predictor: the preprocessing ``schema`` needs, then ``estimator``.

        An estimator that is itself a Pipeline has its steps laid into this one: each
        level of nesting costs about 75 us on every call.
        """
        if isinstance(estimator, Pipeline):
            steps = list(estimator.steps)
        else:
            steps = [(_ESTIMATOR_STEP, estimator)]
        return cls(Pipeline([*_preprocessing(schema), *steps]))

    @property
    def framework(self) -> str:
        """The distribution of the estimator's class (through any nested pipelines, and
        wrappers such as a label encoder that hold the real estimator in ``estimator_``)."""
        estimator = self.pipeline.steps[-1][1]
        while isinstance(estimator, Pipeline) or hasattr(estimator, "estimator_"):
            if isinstance(estimator, Pipeline):
                estimator = estimator.steps[-1][1]
            else:
                estimator = estimator.estimator_
        distribution = getattr(estimator, "framework_distribution", None)
        if isinstance(distribution, str):  # declared by the estimator (e.g. torch's networks)
            return distribution
        package = type(estimator).__module__.partition(".")[0]
        if package in _DISTRIBUTIONS:
            return _DISTRIBUTIONS[package]
        return metadata.packages_distributions().get(package, [package])[0]

    @property
    def classes(self) -> list[Any]:
        classes = getattr(self.pipeline, "classes_", None)
        return [] if classes is None else classes.tolist()

    def fit(self, X: np.ndarray, y: np.ndarray) -> Predictor:
        self.pipeline.fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._call(self.pipeline.predict, X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self.pipeline, "predict_proba"):
            raise InvalidInputError("this model does not give class probabilities")
        return self._call(self.pipeline.predict_proba, X)

    def _call(self, method: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
        expected = self.pipeline.n_features_in_
        if X.ndim != 2 or X.shape[1] != expected:
            raise InvalidInputError(
                f"expected rows of {expected} features, got an array of shape {X.shape}"
            )
        numeric = X.dtype.kind == "f"
        if numeric:
            finite = np.isfinite(X)
            if not finite.all() and (not self._imputes or np.isinf(X).any()):
                gaps = " (this model was trained without gaps)" if not self._imputes else ""
                raise InvalidInputError(f"features must be finite numbers{gaps}")
        try:
            # Numbers are checked above; skipping scikit-learn's own check saves ~15%.
            # Finite values near the float limit overflow when scaled: refuse, don't warn.
            with sklearn.config_context(assume_finite=numeric), np.errstate(over="raise"):
                return method(X)
        except FloatingPointError as exc:
            raise InvalidInputError(f"feature values too large for the model ({exc})") from exc
        except ValueError as exc:  # scikit-learn's own input validation
            raise InvalidInputError(str(exc)) from exc

    def dump(self, path: Path) -> None:
        import skops.io

        skops.io.dump(self.pipeline, path)

    @classmethod
    def load(cls, path: Path) -> Predictor:
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        try:
            pipeline = skops.io.load(path, trusted=TRUSTED_TYPES)
        except UntrustedTypesFoundException as exc:
            raise UnsafeModelFileError(
                f"{path.name} holds types nobody trusted ({exc}); refusing to load it. "
                "If you trust them, add them to TRUSTED_TYPES in model/predictor.py"
            ) from None
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
            raise UnsafeModelFileError(
                f"{path.name} is not a skops model file ({type(exc).__name__}: {exc}); "
                "refusing to load it"
            ) from None
        if not isinstance(pipeline, Pipeline):
            raise UnsafeModelFileError(
                f"{path.name} holds a {type(pipeline).__name__}, not a Pipeline"
            )
        return cls(pipeline)

    def params(self) -> dict[str, Any]:
        """The estimator's scalar parameters (nested estimators are described by theirs)."""
        steps = [step for step in self.pipeline.steps if step[0] not in _PREPROCESSING_STEPS]
        estimator = steps[0][1] if len(steps) == 1 else Pipeline(steps)
        params = estimator.get_params(deep=True)
        return {
            name: list(value) if isinstance(value, (list, tuple)) else value
            for name, value in sorted(params.items())
            # scalars and lists of them (a network's layer sizes)
            if all(map(_json_safe, value if isinstance(value, (list, tuple)) else [value]))
        }


def _json_safe(value: Any) -> bool:
    """A JSON scalar; JSON has no NaN or infinity (XGBoost's ``missing`` is NaN)."""
    return isinstance(value, _JSON_SCALARS) and not (
        isinstance(value, float) and not math.isfinite(value)
    )


def _preprocessing(schema: InputSchema) -> list[tuple[str, Any]]:
    """The steps the schema's data needs before any estimator (none for clean numbers)."""
    strings = list(schema.categorical)
    numbers = [i for i in range(len(schema.features)) if i not in strings]
    numbers_have_gaps = any(schema.features[i].nullable for i in numbers)
    if not strings:
        return [("impute", SimpleImputer(strategy="mean"))] if numbers_have_gaps else []
    encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if any(schema.features[i].nullable for i in strings):
        fill = SimpleImputer(
            strategy="constant", missing_values=MISSING_STRING, fill_value=FILLED_STRING
        )
        encode = make_pipeline(fill, encode)
    columns: list[tuple[str, Any, list[int]]] = [("strings", encode, strings)]
    if numbers:
        number_step = SimpleImputer(strategy="mean") if numbers_have_gaps else "passthrough"
        columns.insert(0, ("numbers", number_step, numbers))
    return [("prepare", ColumnTransformer(columns))]
