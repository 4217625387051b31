"""Shared fixtures: a model trained once per session into a temporary registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from falcon import testing

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import (
    Dataset,
    ProjectConfig,
    find_project_config,
    read_dataset,
    train,
)
from {{ cookiecutter.__package_name }}.settings import Settings


@pytest.fixture(scope="session")
def project() -> ProjectConfig:
    """The project's [tool.mlprod] settings; ``project.root`` is its directory."""
    return find_project_config(Path(__file__).parent)


@pytest.fixture(scope="session")
def data_path(project: ProjectConfig) -> Path:
    return project.root / "data" / "iris.csv"


@pytest.fixture(scope="session")
def iris(data_path: Path) -> Dataset:
    return read_dataset(data_path)


@pytest.fixture(scope="session")
def seed() -> int:
    return 0


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's registry; the project's own models/ is never written by tests."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def manifest(models_dir: Path, project: ProjectConfig, data_path: Path, seed: int) -> Manifest:
    """The manifest of the project's model version, trained once into `models_dir`."""
    return train(data_path, models_dir, project.model_name, project.model_version, seed=seed)


@pytest.fixture(scope="session")
def settings(models_dir: Path, manifest: Manifest) -> Settings:
    return Settings(models_dir=models_dir, model_name=manifest.name)


@pytest.fixture(scope="session")
def client(settings: Settings) -> testing.TestClient:
    return testing.TestClient(create_app(settings))


@pytest.fixture(scope="session")
def two_versions(
    tmp_path_factory: pytest.TempPathFactory, project: ProjectConfig, data_path: Path
) -> Path:
    """A registry holding versions 0.1.0 (accuracy 0.966667) and 0.2.0 (accuracy 1.0)."""
    directory = tmp_path_factory.mktemp("two_versions")
    train(data_path, directory, project.model_name, "0.1.0", seed=0)
    train(data_path, directory, project.model_name, "0.2.0", seed=2)
    return directory
