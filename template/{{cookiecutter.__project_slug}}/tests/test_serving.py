"""Which version the app serves (SERVING file, MODEL_VERSION, latest) and its start gates."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from falcon import testing

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.model import selection
from {{ cookiecutter.__package_name }}.model.errors import (
    IntegrityError,
    ValidityError,
    VersionNotFoundError,
)
from {{ cookiecutter.__package_name }}.model.manifest import read_manifest
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig
from {{ cookiecutter.__package_name }}.settings import Settings

from contract import EXAMPLE, PROJECT, thresholds_table, unmet


@pytest.fixture
def models_dir(two_versions: Path, tmp_path: Path) -> Path:
    """A private copy of the two-version registry, free to tamper with."""
    return Path(shutil.copytree(two_versions, tmp_path / "models"))


@pytest.fixture
def pyproject(tmp_path: Path) -> Path:
    """A project file with the project's own thresholds, which both versions meet."""
    path = tmp_path / "pyproject.toml"
    path.write_text(thresholds_table(PROJECT.thresholds.to_dict()))
    return path


def serve(
    models_dir: Path, pyproject: Path | None, model_name: str, model_version: str = "latest"
) -> testing.TestClient:
    settings = Settings(
        models_dir=models_dir,
        model_name=model_name,
        model_version=model_version,
        pyproject=pyproject,
    )
    return testing.TestClient(create_app(settings))


def answered_by(client: testing.TestClient) -> str:
    """The version named in a prediction's response."""
    result = client.simulate_post("/v1/predict", json={"instances": [EXAMPLE]})
    assert result.status_code == 200
    return result.json["model"]["version"]


def test_the_default_serves_the_highest_release(
    models_dir: Path, pyproject: Path, project: ProjectConfig
) -> None:
    client = serve(models_dir, pyproject, project.model_name)
    assert answered_by(client) == "0.2.0"


def test_model_version_serves_that_version(
    models_dir: Path, pyproject: Path, project: ProjectConfig
) -> None:
    client = serve(models_dir, pyproject, project.model_name, model_version="0.1.0")
    assert answered_by(client) == "0.1.0"
    assert client.simulate_get("/v1/model").json["version"] == "0.1.0"
    assert client.simulate_get("/health/ready").json["model"]["version"] == "0.1.0"


def test_the_serving_file_overrides_model_version_and_the_log_says_so(
    models_dir: Path,
    pyproject: Path,
    project: ProjectConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    selection.record_choice(models_dir, "0.1.0")
    with caplog.at_level(logging.INFO):
        client = serve(models_dir, pyproject, project.model_name, model_version="0.2.0")
        assert answered_by(client) == "0.1.0"
    loaded = next(record for record in caplog.records if record.message == "model loaded")
    assert (loaded.model_version, loaded.chosen_by) == ("0.1.0", str(models_dir / "SERVING"))


@pytest.mark.parametrize(
    ("environ", "chosen_by"),
    [({}, "default (MODEL_VERSION unset)"), ({"MODEL_VERSION": "0.1.0"}, "MODEL_VERSION")],
    ids=["unset", "set"],
)
def test_the_log_says_truly_what_chose_the_version(
    models_dir: Path,
    pyproject: Path,
    caplog: pytest.LogCaptureFixture,
    environ: dict[str, str],
    chosen_by: str,
) -> None:
    settings = Settings.from_env({"MODELS_DIR": str(models_dir), **environ})
    with caplog.at_level(logging.INFO):
        create_app(settings.replace(pyproject=pyproject))
    loaded = next(record for record in caplog.records if record.message == "model loaded")
    assert loaded.chosen_by == chosen_by


def test_a_missing_version_stops_the_start_listing_those_that_exist(
    models_dir: Path, pyproject: Path, project: ProjectConfig
) -> None:
    with pytest.raises(VersionNotFoundError) as excinfo:
        serve(models_dir, pyproject, project.model_name, model_version="0.3.0")
    assert str(excinfo.value) == (
        f"{project.model_name} 0.3.0 not found: no manifest "
        f"{models_dir / f'{project.model_name}-0.3.0.json'} (available: 0.2.0, 0.1.0)"
    )


def test_a_flipped_byte_stops_the_start_naming_the_file(
    models_dir: Path, pyproject: Path, project: ProjectConfig
) -> None:
    artifact = models_dir / f"{project.model_name}-0.2.0{Predictor.suffix}"
    content = bytearray(artifact.read_bytes())
    content[len(content) // 2] ^= 0xFF
    artifact.write_bytes(bytes(content))
    mismatch = f"^{artifact}: SHA-256 [0-9a-f]+ does not match its manifest"
    with pytest.raises(IntegrityError, match=mismatch):
        serve(models_dir, pyproject, project.model_name)


def test_a_threshold_above_the_model_stops_the_start_naming_the_metric(
    models_dir: Path, pyproject: Path, project: ProjectConfig
) -> None:
    manifest = models_dir / f"{project.model_name}-0.1.0.json"
    bound, limit, violation = unmet(read_manifest(manifest).metrics)
    pyproject.write_text(thresholds_table({bound: limit}))
    with pytest.raises(ValidityError) as excinfo:
        serve(models_dir, pyproject, project.model_name, model_version="0.1.0")
    assert str(excinfo.value) == (
        f"{manifest}: {project.model_name} 0.1.0 fails its thresholds "
        f"([tool.mlprod.thresholds] in pyproject.toml): {violation}; refusing to serve it"
    )


def test_without_a_project_file_the_recorded_thresholds_gate_the_start(
    models_dir: Path, project: ProjectConfig
) -> None:
    manifest = models_dir / f"{project.model_name}-0.2.0.json"
    data = json.loads(manifest.read_text())
    bound, limit, violation = unmet(data["metrics"])
    data["thresholds"] = {bound: limit}
    manifest.write_text(json.dumps(data))
    with pytest.raises(ValidityError, match=rf"\(recorded in .*-0\.2\.0\.json\): {violation}"):
        serve(models_dir, None, project.model_name)
    with pytest.raises(ValidityError, match="recorded in"):
        serve(models_dir, models_dir / "no-such-pyproject.toml", project.model_name)
