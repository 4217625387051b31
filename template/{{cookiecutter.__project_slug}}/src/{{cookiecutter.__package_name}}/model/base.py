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


class Model(ABC):
    """A trainable model that can be written to and read from one file."""

    framework: ClassVar[str]
    """The framework's distribution name, recorded in manifests (e.g. ``scikit-learn``)."""

    suffix: ClassVar[str]
    """The artifact's file suffix, with the dot (e.g. ``.joblib``)."""

    @abstractmethod
    def fit(self: ModelT, X: np.ndarray, y: np.ndarray) -> ModelT:
        """Train on ``X`` (one row per sample, columns in schema order) and ``y``; return self."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return one prediction per row of ``X``; raise `InvalidInputError` for unusable input."""

    @abstractmethod
    def dump(self, path: Path) -> None:
        """Write the trained model to ``path``."""

    @classmethod
    @abstractmethod
    def load(cls: type[ModelT], path: Path) -> ModelT:
        """Read a model written by `dump`, ready to predict."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The model's hyper-parameters as JSON-safe values, for the manifest."""
