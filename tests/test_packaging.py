"""The plain functions behind `mlprod package`: bundle, checksums, image tag, engine check."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from mlprod_cli.project import Project
from mlprod_cli.project.models import ManifestError, TrainedModel, read_manifest
from mlprod_cli.release import packaging


def project(root: Path, version: str = "0.1.0") -> Project:
    return Project(
        root=root,
        slug="credit-risk-scorer",
        package="credit_risk_scorer",
        model_name="credit-risk-scorer",
        model_version=version,
    )


@pytest.fixture
def model(tmp_path: Path) -> TrainedModel:
    models = tmp_path / "models"
    models.mkdir()
    artifact = models / "credit-risk-scorer-0.1.0.joblib"
    artifact.write_bytes(b"weights")
    manifest = models / "credit-risk-scorer-0.1.0.json"
    manifest.write_text(
        json.dumps({"artifact": {"file": artifact.name, "sha256": packaging.sha256_file(artifact)}})
    )
    return TrainedModel("credit-risk-scorer", "0.1.0", manifest, read_manifest(manifest))


def test_the_bundle_holds_the_artifact_and_manifest_owned_by_nobody(
    model: TrainedModel, tmp_path: Path
) -> None:
    bundle = packaging.bundle_model(model, tmp_path)
    assert bundle.name == "credit-risk-scorer-0.1.0.tar.gz"
    with tarfile.open(bundle) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [model.artifact_path.name, model.manifest_path.name]
        assert {(m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
            (0, 0, "", "", 0o644)
        }
        assert tar.extractfile(model.artifact_path.name).read() == b"weights"  # type: ignore[union-attr]


def test_the_same_files_give_the_same_bundle(model: TrainedModel, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert (
        packaging.bundle_model(model, first).read_bytes()
        == packaging.bundle_model(model, second).read_bytes()
    )


def test_checksums_are_what_sha256sum_checks(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    files = [tmp_path / "a.whl", tmp_path / "models" / "b.tar.gz"]
    for path in files:
        path.write_bytes(path.name.encode())
    sums = packaging.write_checksums(tmp_path, files)
    assert sums.read_text() == (
        f"{packaging.sha256_file(files[0])}  a.whl\n"
        f"{packaging.sha256_file(files[1])}  models/b.tar.gz\n"
    )
    check = subprocess.run(["sha256sum", "-c", sums.name], cwd=tmp_path, capture_output=True)
    assert check.returncode == 0
    files[1].write_bytes(b"changed")
    assert subprocess.run(["sha256sum", "-c", sums.name], cwd=tmp_path).returncode == 1


@pytest.mark.parametrize(
    ("version", "reference"),
    [
        ("0.1.0", "credit-risk-scorer:0.1.0"),
        ("1.0.0-rc.1", "credit-risk-scorer:1.0.0-rc.1"),
        ("1.0.0+build.7", "credit-risk-scorer:1.0.0_build.7"),
    ],
)
def test_the_image_is_tagged_with_the_model_version(
    tmp_path: Path, version: str, reference: str
) -> None:
    assert packaging.image_reference(project(tmp_path, version)) == reference


def test_an_engine_that_does_not_answer_is_named_with_its_last_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon.' >&2\nexit 1\n")
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert packaging.engine_problem() == (
        "`docker version` failed: Cannot connect to the Docker daemon."
    )


def test_an_unreadable_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "credit-risk-scorer-0.1.0.json").write_text("{not json")
    with pytest.raises(ManifestError, match=r"^.*0\.1\.0\.json is not a usable model manifest: "):
        packaging.trained_model(project(tmp_path))
