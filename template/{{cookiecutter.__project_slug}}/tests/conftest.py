"""Shared fixtures: the project's model trained once per session into a temporary registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from falcon import testing

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.model import estimator
from {{ cookiecutter.__package_name }}.model.manifest import CompiledArtifact
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import Dataset, ProjectConfig, train
from {{ cookiecutter.__package_name }}.settings import Settings

from contract import DATASET, PROJECT


@pytest.fixture(scope="session")
def project() -> ProjectConfig:
    """The project's [tool.mlprod] settings; ``project.root`` is its directory."""
    return PROJECT


@pytest.fixture(scope="session")
def data_path(project: ProjectConfig) -> Path:
    """The configured data file ([tool.mlprod.data] path)."""
    assert project.data is not None
    return project.data.path


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return DATASET


@pytest.fixture(scope="session")
def seed() -> int:
    return 0


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's registry; the project's own models/ is never written by tests."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def manifest(models_dir: Path, project: ProjectConfig, seed: int) -> Manifest:
    """The manifest of the project's model version, trained once into `models_dir`."""
    return train(project, models_dir, seed=seed)


@pytest.fixture(scope="session")
def compiled(manifest: Manifest) -> CompiledArtifact:
    """The compiled model of the project's version. A test that needs one skips, naming the
    converter's reason, when the pipeline does not convert (a HistGradientBoosting model,
    a custom FunctionTransformer): such a version is served natively."""
    if manifest.compiled is None:
        pytest.skip(f"the project's model is served natively: {manifest.not_compiled}")
    return manifest.compiled


@pytest.fixture(scope="session")
def settings(models_dir: Path, manifest: Manifest) -> Settings:
    return Settings(models_dir=models_dir, model_name=manifest.name)


@pytest.fixture(scope="session")
def client(settings: Settings) -> testing.TestClient:
    return testing.TestClient(create_app(settings))


@pytest.fixture(scope="session")
def two_versions(tmp_path_factory: pytest.TempPathFactory, project: ProjectConfig) -> Path:
    """A registry holding versions 0.1.0 and 0.2.0 of the project's model (seeds 0 and 2)."""
    directory = tmp_path_factory.mktemp("two_versions")
    train(project, directory, version="0.1.0", seed=0)
    train(project, directory, version="0.2.0", seed=2)
    return directory


@pytest.fixture(scope="session")
def predictor(project: ProjectConfig, dataset: Dataset) -> Predictor:
    """The project's model (its estimator, its preprocessing) fitted on all of its data."""
    model = Predictor.build(dataset.schema, estimator.build(dict(project.params)))
    return model.fit(dataset.X, dataset.y)
