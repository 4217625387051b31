"""The estimator: the one file to edit to bring your notebook's model.

`build` returns an unfitted classifier: a scaler, then `NetworkClassifier`, a small
neural network (an MLP, defined in ``network.py``) trained with PyTorch on the CPU.
Its hyper-parameters come from ``[tool.mlprod.model.params]`` in ``pyproject.toml``
(``hidden``, ``max_epochs``, ``batch_size``, ``learning_rate``, ``weight_decay``,
``patience``, ``validation_fraction``), so trying another value is a one-line change
there. A ``random_state`` left unset is set to the training seed.

The preprocessing in front of it (imputing missing values, one-hot encoding strings) is
built from the data by ``predictor.py``; networks want scaled inputs, hence the scaler.

torch is needed to train (the ``train`` extra), not to serve: this module imports it
only inside `fit` and `network_outputs`. The fitted estimator keeps the network's
weights as NumPy arrays, so its skops file is data only; the server runs the ONNX file
that training exports from it (torch's exporter), with ONNX Runtime.

After a change: bump the model version (``mlprod bump minor``), train, run the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler

TRUSTED_TYPES = [f"{__name__}.NetworkClassifier"]
"""The types this estimator's model files hold beyond scikit-learn's and NumPy's."""


# scikit-learn ships no type information: its classes are Any to mypy.
class NetworkClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """An MLP classifier trained with PyTorch, early stopping on a validation split."""

    framework_distribution = "torch"
    """The library the model is trained with (the manifest's ``framework``)."""

    def __init__(
        self,
        hidden: Sequence[int] = (32, 16),
        max_epochs: int = 300,
        batch_size: int = 32,
        learning_rate: float = 0.01,
        weight_decay: float = 0.0,
        patience: int = 20,
        validation_fraction: float = 0.2,
        random_state: int | None = None,
    ) -> None:
        self.hidden = hidden
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> NetworkClassifier:
        from . import network

        encoder = LabelEncoder().fit(y)
        self.classes_: np.ndarray = encoder.classes_
        seed = 0 if self.random_state is None else int(self.random_state)
        X_fit, X_valid, y_fit, y_valid = train_test_split(
            np.asarray(X, dtype=np.float64),
            encoder.transform(y),
            test_size=self.validation_fraction,
            random_state=seed,
            stratify=encoder.transform(y),
        )
        settings = network.Settings(
            hidden=tuple(int(size) for size in self.hidden),
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            patience=self.patience,
            seed=seed,
        )
        trained = network.fit(
            X_fit, y_fit, X_valid, y_valid, len(self.classes_), "classification", settings
        )
        self.weights_: dict[str, np.ndarray] = trained.weights
        self.epochs_: int = trained.epochs
        self.best_epoch_: int = trained.best_epoch
        self.n_features_in_: int = X.shape[1]
        return self

    def network_outputs(self, X: np.ndarray) -> np.ndarray:
        """The trained network's own outputs for ``X`` (the logits), computed by torch."""
        from . import network

        return network.outputs(self.weights_, self.hidden, X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        logits = self.network_outputs(X).astype(np.float64)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
        return probabilities

    def predict(self, X: np.ndarray) -> np.ndarray:
        labels: np.ndarray = self.classes_[self.network_outputs(X).argmax(axis=1)]
        return labels

    def to_onnx(self, opset: int) -> bytes:
        """The network as ONNX (torch's exporter): input ``prepared``, outputs ``index``
        (the class number) and ``probabilities``; ``classes_`` maps numbers to labels."""
        from . import network

        return network.export(self.weights_, self.hidden, "classification", opset)


def build(params: dict[str, Any]) -> BaseEstimator:
    """The classifier to train, unfitted, with ``params`` from ``[tool.mlprod.model.params]``."""
    return make_pipeline(StandardScaler(), NetworkClassifier(**params))
