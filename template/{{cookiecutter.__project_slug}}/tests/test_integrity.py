"""An artifact's SHA-256 against its manifest's, before anything reads the file."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.model.errors import IntegrityError
from {{ cookiecutter.__package_name }}.model.integrity import sha256_file, verify_artifact
from {{ cookiecutter.__package_name }}.model.manifest import Manifest


def test_the_hash_is_the_sha256_of_the_file(models_dir: Path, manifest: Manifest) -> None:
    artifact = models_dir / manifest.artifact.file
    assert sha256_file(artifact) == hashlib.sha256(artifact.read_bytes()).hexdigest()


def test_an_artifact_matching_its_manifest_passes(models_dir: Path, manifest: Manifest) -> None:
    verify_artifact(models_dir / manifest.artifact.file, manifest.artifact.sha256)


def test_a_changed_byte_is_refused_naming_both_hashes(
    models_dir: Path, manifest: Manifest, tmp_path: Path
) -> None:
    artifact = Path(shutil.copyfile(models_dir / manifest.artifact.file, tmp_path / "a"))
    content = bytearray(artifact.read_bytes())
    content[-1] ^= 0xFF
    artifact.write_bytes(bytes(content))
    with pytest.raises(IntegrityError) as excinfo:
        verify_artifact(artifact, manifest.artifact.sha256)
    assert str(excinfo.value) == (
        f"{artifact}: SHA-256 {sha256_file(artifact)} does not match its manifest "
        f"({manifest.artifact.sha256}); refusing to load it"
    )


def test_a_missing_artifact_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="artifact not found"):
        verify_artifact(tmp_path / "gone.skops", "0" * 64)
