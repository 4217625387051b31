"""Which version is served: the SERVING file over MODEL_VERSION, through every gate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.model import selection
from {{ cookiecutter.__package_name }}.model.errors import RegistryError, ValidityError
from {{ cookiecutter.__package_name }}.model.manifest import Manifest
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.selection import Choice

from contract import PROJECT, thresholds_table, unmet


def test_without_a_serving_file_the_configured_version_is_chosen(tmp_path: Path) -> None:
    assert selection.choose(tmp_path, "latest") == Choice("latest", "MODEL_VERSION")
    assert selection.choose(tmp_path, "1.2.0") == Choice("1.2.0", "MODEL_VERSION")


def test_the_serving_file_overrides_the_configured_version(tmp_path: Path) -> None:
    path = selection.record_choice(tmp_path, "0.1.0")
    assert path == tmp_path / "SERVING"
    assert path.read_text() == "0.1.0\n"
    assert selection.choose(tmp_path, "0.2.0") == Choice("0.1.0", str(path))
    assert [entry.name for entry in tmp_path.iterdir()] == ["SERVING"]


def test_a_serving_file_that_names_no_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "SERVING").write_text("yesterday's\n")
    with pytest.raises(RegistryError) as excinfo:
        selection.choose(tmp_path, "latest")
    assert str(excinfo.value) == (
        f"{tmp_path / 'SERVING'}: \"yesterday's\" is neither 'latest' nor a semantic version; "
        "rewrite it with `serve-version VERSION` or delete it"
    )


def test_load_chosen_follows_the_serving_file_and_the_project_thresholds(
    two_versions: Path, tmp_path: Path, manifest: Manifest
) -> None:
    models_dir = Path(shutil.copytree(two_versions, tmp_path / "models"))
    selection.record_choice(models_dir, "0.1.0")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(thresholds_table(PROJECT.thresholds.to_dict()))
    loaded, choice = selection.load_chosen(models_dir, manifest.name, "0.2.0", Predictor, pyproject)
    assert (loaded.manifest.version, choice.source) == ("0.1.0", str(models_dir / "SERVING"))
    bound, limit, violation = unmet(loaded.manifest.metrics)
    pyproject.write_text(thresholds_table({bound: limit}))
    with pytest.raises(ValidityError, match=violation):
        selection.load_chosen(models_dir, manifest.name, "0.2.0", Predictor, pyproject)
    pyproject.write_text("[tool.mlprod.thresholds]\nmin_accuracy = 'high'\n")
    with pytest.raises(RegistryError, match=f"^{pyproject}: .* must be a finite number"):
        selection.load_chosen(models_dir, manifest.name, "0.2.0", Predictor, pyproject)
