"""The PyTorch network: trained deterministically, stopped early, shown while it trains,
exported to ONNX and served, without torch, with the network's own answers."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from falcon import testing
from sklearn.model_selection import train_test_split

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.logging import PROGRESS_LOGGER, training_progress
from {{ cookiecutter.__package_name }}.model import estimator, registry
from {{ cookiecutter.__package_name }}.model.compiled import CompiledModel
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import Dataset, ProjectConfig

from contract import CLASSIFIER, instance

AGREEMENT = 1e-5
"""How far a served answer may be from the network's own (probabilities; values relative
to their size: the network computes in float32, whose resolution near 300 is 3e-5)."""


def fitted(dataset: Dataset, project: ProjectConfig, **params: object) -> Predictor:
    network = estimator.build({**project.params, **params})
    return Predictor.build(dataset.schema, network).fit(dataset.X, dataset.y)


def weights(model: Predictor) -> dict[str, np.ndarray]:
    return dict(model.pipeline.steps[-1][1].weights_)


def test_training_is_deterministic_under_a_seed(dataset: Dataset, project: ProjectConfig) -> None:
    first, again = (fitted(dataset, project, random_state=3, max_epochs=5) for _ in range(2))
    other = fitted(dataset, project, random_state=4, max_epochs=5)
    assert weights(first).keys() == weights(again).keys()
    for key, value in weights(first).items():
        assert np.array_equal(value, weights(again)[key]), key
    assert any(not np.array_equal(v, weights(other)[k]) for k, v in weights(first).items())


def test_training_stops_early_and_keeps_the_best_epoch(
    dataset: Dataset, project: ProjectConfig
) -> None:
    network = fitted(dataset, project, random_state=0, max_epochs=2000, patience=3)
    final = network.pipeline.steps[-1][1]
    assert final.epochs_ < 2000
    assert final.best_epoch_ == final.epochs_ - 3


def held_out(manifest: Manifest, dataset: Dataset) -> np.ndarray:
    """The rows training held out (its split, by its recorded seed and size)."""
    rows = np.arange(len(dataset.y))
    _, test = train_test_split(
        rows,
        test_size=manifest.split.test_size,
        random_state=manifest.split.seed,
        stratify=dataset.y if CLASSIFIER else None,
    )
    return np.sort(test)


def network_answers(models_dir: Path, manifest: Manifest, X: np.ndarray) -> np.ndarray:
    """The trained network's own answers (torch's forward pass) on ``X``: probabilities,
    or values in the target's units."""
    native = registry.load(models_dir, manifest.name, manifest.version, Predictor).model
    *preprocessing, (_, network) = native.pipeline.steps
    prepared = X
    for _, step in preprocessing:
        prepared = step.transform(prepared)
    outputs = network.network_outputs(prepared).astype(np.float64)
    if CLASSIFIER:
        exp = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)
    return outputs[:, 0] * network.scale_ + network.mean_


def test_served_predictions_equal_the_networks_own_outputs(
    client: testing.TestClient, models_dir: Path, manifest: Manifest, dataset: Dataset
) -> None:
    rows = held_out(manifest, dataset)
    expected = network_answers(models_dir, manifest, dataset.X[rows])
    body = {"instances": [instance(int(row)) for row in rows]}
    if CLASSIFIER:
        body["return_probabilities"] = True
    answer = client.simulate_post("/v1/predict", json=body)
    assert answer.status_code == 200, answer.text
    assert client.simulate_get("/v1/model").json["runtime"] == "onnx"
    if CLASSIFIER:
        classes = [str(label) for label in manifest.output.classes]
        served = np.array([[row[c] for c in classes] for row in answer.json["probabilities"]])
        assert np.abs(served - expected).max() <= AGREEMENT
        labels = np.array(manifest.output.classes)[expected.argmax(axis=1)]
        assert answer.json["predictions"] == labels.tolist()
    else:
        served = np.array(answer.json["predictions"])
        assert (np.abs(served - expected) <= AGREEMENT * np.maximum(1, np.abs(expected))).all()


def test_the_manifest_records_the_export(manifest: Manifest) -> None:
    compiled = manifest.compiled
    assert compiled is not None, manifest.not_compiled
    assert (compiled.format, compiled.precision) == ("onnx", "float32")
    assert compiled.opset["ai.onnx"] == 18
    exporters = dict(part.split(" ")[:2] for part in compiled.converter.split(", "))
    assert {"skl2onnx", "torch", "onnxscript", "onnx"} <= exporters.keys()
    assert manifest.framework == "torch"
    assert CompiledModel.suffix == Path(compiled.file).suffix


def test_serving_imports_no_torch(models_dir: Path, manifest: Manifest) -> None:
    """The app, built and answering in a fresh interpreter, never imports torch: the image,
    which has none, serves the same code (the gates tier serves it from such an environment)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from falcon import testing\n"
        "from {{ cookiecutter.__package_name }}.api.app import create_app\n"
        "from {{ cookiecutter.__package_name }}.settings import Settings\n"
        "settings = Settings(models_dir=Path(sys.argv[1]), model_name=sys.argv[2])\n"
        "client = testing.TestClient(create_app(settings))\n"
        "example = client.simulate_get('/v1/model').json['input_schema']['example']\n"
        "answer = client.simulate_post('/v1/predict', json={'instances': [example]})\n"
        "assert answer.status_code == 200, answer.text\n"
        "print(sorted(name for name in sys.modules if name.partition('.')[0] == 'torch'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(models_dir), manifest.name],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MODEL_RUNTIME": "auto"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_training_logs_each_epoch_as_json_lines_off_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["train", "--dry-run"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert records, "no progress was logged"
    assert [record["epoch"] for record in records] == list(range(1, len(records) + 1))
    for record in records:
        assert record["logger"] == PROGRESS_LOGGER
        assert {"loss", "validation_loss", "max_epochs"} <= record.keys()
        assert ("validation_accuracy" if CLASSIFIER else "validation_rmse") in record


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_training_shows_one_line_rewritten_in_place_on_a_terminal() -> None:
    stream = Terminal()
    progress = logging.getLogger(PROGRESS_LOGGER)
    with training_progress(stream):
        for epoch in (1, 2):
            progress.info(
                "epoch", extra={"epoch": epoch, "max_epochs": 9, "loss": 0.5, "validation_loss": 1}
            )
    shown = stream.getvalue()
    assert "\n" not in shown
    assert shown.count("\r") == 3  # two epochs, then the line cleared
    assert "epoch 2/9  loss 0.5  validation_loss 1" in shown
