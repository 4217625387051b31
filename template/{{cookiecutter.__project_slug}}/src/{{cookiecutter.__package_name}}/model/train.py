"""Training: read the configured data, fit the model, evaluate it on held-out rows, register it.

What to train on is ``[tool.mlprod.data]`` (see `config`); the estimator is
`estimator.build` with ``[tool.mlprod.model.params]``; the task's metrics come from
`evaluation`. `evaluate` does all of it but registering (``train --dry-run``). Registering
also compiles the model to ONNX (`compiled`), kept only if it answers as the native one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split

from ..tracking.data_version import checked_md5
from . import estimator, registry
from .compiled import compile_model
from .config import DataConfig, ProjectConfig, ProjectConfigError, find_project_config
from .data import Dataset, DatasetError, read_dataset
from .evaluation import evaluate as score
from .predictor import Predictor
from .profile import build_profile

__all__ = [
    "DEFAULT_SEED",
    "TEST_SIZE",
    "DataConfig",
    "Dataset",
    "DatasetError",
    "Evaluation",
    "ProjectConfig",
    "ProjectConfigError",
    "data_config",
    "evaluate",
    "find_project_config",
    "load_dataset",
    "train",
]

DEFAULT_SEED = 42
TEST_SIZE = 0.2
MIN_TEST_ROWS = 2
"""Held-out rows needed for metrics to mean anything (R² needs two)."""


@dataclass(frozen=True)
class Evaluation:
    """A model fitted on the training rows and scored on the held-out ones; not registered."""

    model: Predictor
    dataset: Dataset
    data_path: Path
    split: registry.Split
    metrics: dict[str, float]
    violations: list[str]
    """How the metrics fail the thresholds; empty when they meet them."""
    training_rows: np.ndarray
    held_out_rows: np.ndarray


def data_config(project: ProjectConfig, data: DataConfig | None = None) -> DataConfig:
    """``data``, else the project's ``[tool.mlprod.data]``; refused when neither is set."""
    config = data or project.data
    if config is None:
        raise ProjectConfigError(
            f"{project.root / 'pyproject.toml'}: no [tool.mlprod.data] table; "
            'add one with path = "data/<file>.csv" and target = "<column>"'
        )
    return config


def load_dataset(project: ProjectConfig, data: DataConfig | None = None) -> Dataset:
    """The project's configured data set (or ``data``), read and checked."""
    config = data_config(project, data)
    return read_dataset(
        config.path,
        config.target,
        task=project.task,
        features=config.features,
        drop=config.drop,
        id_column=config.id,
    )


def evaluate(
    project: ProjectConfig, *, data: DataConfig | None = None, seed: int = DEFAULT_SEED
) -> Evaluation:
    """Fit the project's model on its data (``data`` overrides it) and score it."""
    config = data_config(project, data)
    dataset = load_dataset(project, config)
    classify = project.task == "classification"
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            dataset.X,
            dataset.y,
            test_size=TEST_SIZE,
            random_state=seed,
            stratify=dataset.y if classify else None,
        )
    except ValueError as exc:
        raise DatasetError(
            f"{config.path}: cannot split it for evaluation ({exc}); add rows"
        ) from None
    if len(y_test) < MIN_TEST_ROWS:
        raise DatasetError(
            f"{config.path}: cannot split it for evaluation ({len(dataset.y)} rows leave "
            f"{len(y_test)} held out, fewer than {MIN_TEST_ROWS}); add rows"
        )
    model = Predictor.build(dataset.schema, _seeded(estimator.build(dict(project.params)), seed))
    model.fit(X_train, y_train)
    metrics = score(model, project.task, X_test, y_test)
    return Evaluation(
        model=model,
        dataset=dataset,
        data_path=config.path,
        split=registry.Split(
            seed=seed, test_size=TEST_SIZE, train_rows=len(y_train), test_rows=len(y_test)
        ),
        metrics=metrics,
        violations=project.thresholds.violations(metrics),
        training_rows=X_train,
        held_out_rows=X_test,
    )


def train(
    project: ProjectConfig,
    models_dir: Path,
    *,
    version: str | None = None,
    data: DataConfig | None = None,
    seed: int = DEFAULT_SEED,
    allow_dirty_data: bool = False,
) -> registry.Manifest:
    """Train a new model version on the project's data and register it in ``models_dir``.

    An existing version is refused before any work is done. A model whose held-out
    metrics fail the project's thresholds is not registered (`registry.ValidityError`),
    so the version stays free for a better model; those it meets are recorded. The
    model is compiled to ONNX too; when that fails or its gate does not hold, the version
    is registered with its native artifact alone and the manifest's ``not_compiled`` says
    why (training never fails for it). Data under DVC must match its ``.dvc`` file unless
    ``allow_dirty_data``; its DVC hash is recorded (`tracking.data_version`).
    """
    name, version = project.model_name, version or project.model_version
    registry.ensure_new_version(models_dir, name, version, Predictor)
    dvc_md5 = checked_md5(data_config(project, data).path, allow_dirty=allow_dirty_data)
    result = evaluate(project, data=data, seed=seed)
    gate = project.thresholds
    if result.violations:
        raise registry.ValidityError(
            f"{name} {version} fails its thresholds ({gate.source}): "
            f"{'; '.join(result.violations)}; not registered: improve the model or its data, "
            "or change the threshold, then train again"
        )
    y = result.dataset.y
    classes = result.model.classes if project.task == "classification" else []
    compilation = compile_model(
        result.model.pipeline,
        result.dataset.schema,
        project.task,
        held_out=result.held_out_rows,
        training=result.training_rows,
    )
    return registry.save(
        models_dir,
        result.model,
        name=name,
        version=version,
        data=registry.TrainingData(
            file=result.data_path.name,
            sha256=registry.sha256_file(result.data_path),
            rows=len(y),
            dvc_md5=dvc_md5,
        ),
        split=result.split,
        metrics=result.metrics,
        input_schema=result.dataset.schema,
        output=registry.Output(task=project.task, classes=classes),
        thresholds=gate.to_dict(),
        compilation=compilation,
        profile=build_profile(
            result.dataset.schema,
            result.training_rows,
            result.model.predict(result.held_out_rows),
            classifier=project.task == "classification",
        ),
    )


def _seeded(model: BaseEstimator, seed: int) -> BaseEstimator:
    """``model`` with every ``random_state`` left unset set to ``seed``, for reproducibility."""
    params = model.get_params(deep=True)
    unset = {
        key: seed
        for key, value in params.items()
        if (key == "random_state" or key.endswith("__random_state")) and value is None
    }
    return model.set_params(**unset) if unset else model
