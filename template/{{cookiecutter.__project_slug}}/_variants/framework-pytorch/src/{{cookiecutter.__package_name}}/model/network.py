"""The network: a small MLP for tabular rows, trained with PyTorch on the CPU, exported to ONNX.

Only training imports this module (torch is the ``train`` extra, never a serving
dependency): the estimator in ``estimator.py`` keeps the trained weights as NumPy arrays,
and the server runs the ONNX file `export` writes, with ONNX Runtime.

Training is deterministic under a seed: the weights' initialisation and the batches'
order come from generators seeded with it, on one thread. It stops early: after each
epoch the loss on a validation split is measured, and when it has not improved for
``patience`` epochs, training stops and the best epoch's weights are kept.

Each epoch is logged (logger ``<package>.progress``: epoch, loss, validation loss and
metric); ``train`` shows it as a line on a terminal, as JSON lines elsewhere.
"""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

Objective = Literal["classification", "regression"]
PROGRESS = logging.getLogger(f"{__name__.partition('.')[0]}.progress")
"""The logger each epoch is written to (see the project's ``logging.training_progress``)."""


class MLP(nn.Module):
    """Linear layers with ReLU between them: ``inputs -> hidden... -> outputs``."""

    def __init__(self, inputs: int, hidden: Sequence[int], outputs: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = inputs
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.layers(x)
        return result


@dataclass(frozen=True)
class Settings:
    """How to train: the estimator's hyper-parameters (``[tool.mlprod.model.params]``)."""

    hidden: tuple[int, ...] = (32, 16)
    max_epochs: int = 300
    batch_size: int = 32
    learning_rate: float = 0.01
    weight_decay: float = 0.0
    patience: int = 20
    seed: int = 0


@dataclass(frozen=True)
class Trained:
    """A trained network's weights (``state_dict`` as NumPy arrays) and how training went."""

    weights: dict[str, np.ndarray]
    epochs: int
    """Epochs run before early stopping (or ``max_epochs``)."""
    best_epoch: int
    """The epoch whose weights were kept: the lowest validation loss."""
    validation_loss: float


def fit(
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    outputs: int,
    objective: Objective,
    settings: Settings,
) -> Trained:
    """Train an `MLP` on ``X``/``y``, stopping early on the loss over ``X_valid``/``y_valid``.

    Classification takes class numbers (0..outputs-1) and minimises cross-entropy;
    regression takes (already standardised) targets and minimises squared error.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reproducible, and no pool fighting other processes for cores
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            return _fit(X, y, X_valid, y_valid, outputs, objective, settings)
    finally:
        torch.set_num_threads(threads)


def _fit(
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    outputs: int,
    objective: Objective,
    settings: Settings,
) -> Trained:
    network = MLP(X.shape[1], settings.hidden, outputs)
    classify = objective == "classification"
    loss_function: nn.Module = nn.CrossEntropyLoss() if classify else nn.MSELoss()
    optimizer = torch.optim.Adam(
        network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    inputs, valid_inputs = _tensor(X), _tensor(X_valid)
    targets = torch.from_numpy(y).long() if classify else _tensor(y).reshape(-1, 1)
    valid_targets = (
        torch.from_numpy(y_valid).long() if classify else _tensor(y_valid).reshape(-1, 1)
    )
    shuffle = torch.Generator().manual_seed(settings.seed)
    best = (math.inf, 0, _weights(network))
    epoch = 0
    for epoch in range(1, settings.max_epochs + 1):
        network.train()
        total = 0.0
        order = torch.randperm(len(inputs), generator=shuffle)
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            loss = loss_function(network(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        network.eval()
        with torch.no_grad():
            answers = network(valid_inputs)
            valid_loss = float(loss_function(answers, valid_targets))
        metric = "validation_accuracy" if classify else "validation_rmse"
        value = (
            float((answers.argmax(dim=1) == valid_targets).float().mean())
            if classify
            else math.sqrt(valid_loss)
        )
        PROGRESS.info(
            "epoch",
            extra={
                "epoch": epoch,
                "max_epochs": settings.max_epochs,
                "loss": round(total / len(inputs), 6),
                "validation_loss": round(valid_loss, 6),
                metric: round(value, 6),
            },
        )
        if valid_loss < best[0]:
            best = (valid_loss, epoch, _weights(network))
        elif epoch - best[1] >= settings.patience:
            break
    return Trained(weights=best[2], epochs=epoch, best_epoch=best[1], validation_loss=best[0])


def load(weights: dict[str, np.ndarray], hidden: Sequence[int]) -> MLP:
    """The network with ``weights`` (as `Trained.weights`), in evaluation mode."""
    inputs, outputs = _widths(weights)
    network = MLP(inputs, hidden, outputs)
    network.load_state_dict({key: torch.from_numpy(value) for key, value in weights.items()})
    return network.eval()


def outputs(weights: dict[str, np.ndarray], hidden: Sequence[int], X: np.ndarray) -> np.ndarray:
    """The network's own outputs (logits, or standardised values) for the rows ``X``."""
    network = load(weights, hidden)
    with torch.no_grad():
        answers: np.ndarray = network(_tensor(X)).numpy()
    return answers


class _Served(nn.Module):
    """What the exported graph computes: class numbers and probabilities from the logits,
    or the regression value in the target's units."""

    def __init__(self, network: MLP, objective: Objective, mean: float, scale: float) -> None:
        super().__init__()
        self.network = network
        self.classify = objective == "classification"
        self.mean, self.scale = mean, scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        answers = self.network(x)
        if self.classify:
            return answers.argmax(dim=1), torch.softmax(answers, dim=1)
        return (answers * self.scale + self.mean,)


def export(
    weights: dict[str, np.ndarray],
    hidden: Sequence[int],
    objective: Objective,
    opset: int,
    mean: float = 0.0,
    scale: float = 1.0,
) -> bytes:
    """The network as ONNX (torch's exporter, ``torch.onnx.export``): one float32 input
    ``prepared`` (rows, features); outputs ``index`` and ``probabilities`` for a classifier,
    ``value`` for a regressor. Any number of rows."""
    network = load(weights, hidden)
    served = _Served(network, objective, mean, scale).eval()
    example = torch.zeros(2, _widths(weights)[0])
    names = ["index", "probabilities"] if objective == "classification" else ["value"]
    exporter = logging.getLogger("torch.onnx")
    level = exporter.level
    exporter.setLevel(logging.ERROR)  # it notes optional packages it does without (torchvision)
    try:
        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation notices, not ours
            path = Path(scratch) / "network.onnx"
            torch.onnx.export(
                served,
                (example,),
                str(path),
                input_names=["prepared"],
                output_names=names,
                dynamic_shapes=({0: torch.export.Dim("rows")},),
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            return path.read_bytes()
    finally:
        exporter.setLevel(level)


def _widths(weights: dict[str, np.ndarray]) -> tuple[int, int]:
    """The network's input and output widths, from its first and last layers' weights."""
    layers = [value for key, value in weights.items() if key.endswith(".weight")]
    return layers[0].shape[1], layers[-1].shape[0]


def _tensor(X: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))


def _weights(network: MLP) -> dict[str, np.ndarray]:
    return {key: value.detach().numpy().copy() for key, value in network.state_dict().items()}
