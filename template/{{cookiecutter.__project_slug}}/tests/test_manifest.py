"""The manifest: written beside each artifact, read back as it was written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.model import registry
from {{ cookiecutter.__package_name }}.model.errors import ManifestError
from {{ cookiecutter.__package_name }}.model.manifest import (
    MANIFEST_FORMAT,
    Manifest,
    read_manifest,
)


def test_manifest_round_trips_through_its_file(models_dir: Path, manifest: Manifest) -> None:
    path = registry.manifest_path(models_dir, manifest.name, manifest.version)
    assert read_manifest(path) == manifest
    assert json.loads(path.read_text())["manifest_format"] == MANIFEST_FORMAT


def test_a_manifest_without_thresholds_reads_as_none_recorded(
    models_dir: Path, manifest: Manifest, tmp_path: Path
) -> None:
    source = registry.manifest_path(models_dir, manifest.name, manifest.version)
    data = json.loads(source.read_text())
    path = tmp_path / source.name
    del data["thresholds"]
    path.write_text(json.dumps(data))
    assert read_manifest(path).thresholds == {}


def test_read_manifest_refuses_a_file_that_is_not_a_manifest(tmp_path: Path) -> None:
    path = tmp_path / "iris-1.0.0.json"
    path.write_text('{"name": "iris"}')
    with pytest.raises(ManifestError, match=r"iris-1\.0\.0\.json: not a manifest"):
        read_manifest(path)
