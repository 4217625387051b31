"""The model interface, after scikit-learn's: ``fit``, ``predict``, ``dump``, ``load``.

Framework-specific code lives behind this interface, so training, the registry and
the API work with any implementation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

ModelT = TypeVar("ModelT", bound="Model")


class InvalidInputError(ValueError):
    """Input the model cannot take: wrong shape, non-finite numbers, unusable values."""


class UnsafeModelFileError(Exception):
    """A model file that is not in the expected format or holds types nobody trusted.

    Loading stops before any object from the file is built.
    """


class Model(ABC):
    """A trainable model that can be written to and read from one file."""

    suffix: ClassVar[str]
    """The artifact's file suffix, with the dot (e.g. ``.skops``)."""

    @property
    @abstractmethod
    def framework(self) -> str:
        """The distribution name of what was trained, for manifests (e.g. ``scikit-learn``)."""

    @abstractmethod
    def fit(self: ModelT, X: np.ndarray, y: np.ndarray) -> ModelT:
        """Train on ``X`` (one row per sample, columns in schema order) and ``y``; return self."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return one prediction per row of ``X``; raise `InvalidInputError` for unusable input."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """One row of class probabilities per row of ``X``, columns in `classes` order."""
        raise InvalidInputError("this model predicts numbers, not class probabilities")

    @property
    def classes(self) -> list[Any]:
        """The classes a classifier predicts, in the order of `predict_proba`'s columns."""
        return []

    @abstractmethod
    def dump(self, path: Path) -> None:
        """Write the trained model to ``path``."""

    @classmethod
    @abstractmethod
    def load(cls: type[ModelT], path: Path) -> ModelT:
        """Read a model written by `dump`, ready to predict; `UnsafeModelFileError` if not."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The model's hyper-parameters as JSON-safe values, for the manifest."""
