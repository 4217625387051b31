"""The artifact registry: naming, version resolution, the gates before loading, no overwrites."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.model import registry
from {{ cookiecutter.__package_name }}.model.errors import (
    IntegrityError,
    ManifestError,
    RegistryError,
    ValidityError,
    VersionExistsError,
    VersionNotFoundError,
)
from {{ cookiecutter.__package_name }}.model.manifest import Manifest
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.thresholds import Thresholds
from {{ cookiecutter.__package_name }}.model.train import Dataset

from contract import unmet


@pytest.fixture
def registry_copy(models_dir: Path, manifest: Manifest, tmp_path: Path) -> Path:
    """A private copy of the session's registry, free to tamper with."""
    return Path(shutil.copytree(models_dir, tmp_path / "models"))


def fake_versions(directory: Path, name: str, *versions: str) -> None:
    """Empty manifests: listing and resolving read only file names."""
    for version in versions:
        (directory / f"{name}-{version}.json").touch()


def test_artifact_and_manifest_are_named_after_the_model_and_version(
    models_dir: Path, manifest: Manifest
) -> None:
    stem = f"{manifest.name}-{manifest.version}"
    artifact = f"{stem}{Predictor.suffix}"
    assert manifest.artifact.file == artifact
    files = [artifact, f"{stem}.json"]
    if manifest.compiled is not None:
        assert manifest.compiled.file == f"{stem}.onnx"
        files.append(manifest.compiled.file)
    assert sorted(path.name for path in models_dir.iterdir()) == sorted(files)


def test_manifest_records_the_artifact_hash(models_dir: Path, manifest: Manifest) -> None:
    artifact = models_dir / manifest.artifact.file
    assert manifest.artifact.sha256 == registry.sha256_file(artifact)
    assert len(manifest.artifact.sha256) == 64


def test_versions_are_listed_newest_first_with_prereleases_below_their_release(
    tmp_path: Path,
) -> None:
    fake_versions(tmp_path, "iris", "1.9.0", "1.10.0", "1.10.0-rc.1", "0.1.0", "1.10.0-alpha")
    fake_versions(tmp_path, "iris-v2", "9.0.0")
    (tmp_path / "iris-notes.json").touch()
    assert [str(v) for v in registry.list_versions(tmp_path, "iris")] == [
        "1.10.0",
        "1.10.0-rc.1",
        "1.10.0-alpha",
        "1.9.0",
        "0.1.0",
    ]


def test_latest_is_the_highest_release_not_a_prerelease(tmp_path: Path) -> None:
    fake_versions(tmp_path, "iris", "1.0.0", "1.1.0", "2.0.0-rc.1")
    assert str(registry.resolve_version(tmp_path, "iris", "latest")) == "1.1.0"


def test_an_exact_version_resolves_to_itself_even_a_prerelease(tmp_path: Path) -> None:
    fake_versions(tmp_path, "iris", "1.0.0", "2.0.0-rc.1")
    assert str(registry.resolve_version(tmp_path, "iris", "2.0.0-rc.1")) == "2.0.0-rc.1"
    assert str(registry.resolve_version(tmp_path, "iris", "1.0.0")) == "1.0.0"


def test_a_missing_version_names_its_manifest_and_lists_the_available_ones(
    tmp_path: Path,
) -> None:
    fake_versions(tmp_path, "iris", "1.0.0", "1.1.0")
    with pytest.raises(VersionNotFoundError) as excinfo:
        registry.resolve_version(tmp_path, "iris", "3.0.0")
    message = str(excinfo.value)
    assert "iris-3.0.0.json" in message
    assert "available: 1.1.0, 1.0.0" in message


def test_latest_with_no_release_says_none_is_available(tmp_path: Path) -> None:
    with pytest.raises(VersionNotFoundError, match="none available; train one first"):
        registry.resolve_version(tmp_path, "iris", "latest")


def test_a_version_that_is_not_semver_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"'1\.0' is not a semantic version"):
        registry.resolve_version(tmp_path, "iris", "1.0")


def test_load_verifies_and_returns_the_model_with_its_manifest(
    models_dir: Path, manifest: Manifest, dataset: Dataset
) -> None:
    loaded = registry.load(models_dir, manifest.name, "latest", Predictor)
    assert loaded.manifest == manifest
    assert loaded.model.predict(dataset.X[:5]).shape == (5,)


def test_load_refuses_an_artifact_whose_hash_does_not_match(
    registry_copy: Path, manifest: Manifest
) -> None:
    artifact = registry_copy / manifest.artifact.file
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    with pytest.raises(
        IntegrityError, match=f"{manifest.artifact.file}: SHA-256 .* does not match"
    ):
        registry.load(registry_copy, manifest.name, manifest.version, Predictor)


def test_load_refuses_a_missing_artifact(registry_copy: Path, manifest: Manifest) -> None:
    (registry_copy / manifest.artifact.file).unlink()
    with pytest.raises(IntegrityError, match=f"{manifest.artifact.file}: artifact not found"):
        registry.load(registry_copy, manifest.name, manifest.version, Predictor)


def test_load_refuses_an_artifact_without_manifest(registry_copy: Path, manifest: Manifest) -> None:
    registry.manifest_path(registry_copy, manifest.name, manifest.version).unlink()
    with pytest.raises(VersionNotFoundError, match=f"{manifest.name}-{manifest.version}.json"):
        registry.load(registry_copy, manifest.name, manifest.version, Predictor)


def test_load_refuses_a_manifest_written_for_another_version(
    registry_copy: Path, manifest: Manifest
) -> None:
    for suffix in (".json", Predictor.suffix):
        source = registry_copy / f"{manifest.name}-{manifest.version}{suffix}"
        source.rename(registry_copy / f"{manifest.name}-7.0.0{suffix}")
    with pytest.raises(ManifestError, match=f"{manifest.name}-7.0.0.json: describes"):
        registry.load(registry_copy, manifest.name, "7.0.0", Predictor)


def test_load_refuses_a_manifest_that_names_another_artifact(
    registry_copy: Path, manifest: Manifest
) -> None:
    path = registry.manifest_path(registry_copy, manifest.name, manifest.version)
    data = json.loads(path.read_text())
    data["artifact"]["file"] = f"other{Predictor.suffix}"
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError) as excinfo:
        registry.load(registry_copy, manifest.name, manifest.version, Predictor)
    assert str(excinfo.value) == (
        f"{path}: names artifact 'other{Predictor.suffix}', not '{manifest.artifact.file}'"
    )


def test_check_refuses_a_version_whose_manifest_is_missing(
    registry_copy: Path, manifest: Manifest
) -> None:
    path = registry.manifest_path(registry_copy, manifest.name, manifest.version)
    path.unlink()
    with pytest.raises(ManifestError, match=f"^{path}: manifest not found$"):
        registry.check(registry_copy, manifest.name, manifest.version, Predictor)


# The validity gate ------------------------------------------------------------------------


def record_thresholds(models_dir: Path, manifest: Manifest, thresholds: dict[str, float]) -> Path:
    """Rewrite the manifest as if training had checked ``thresholds``."""
    path = registry.manifest_path(models_dir, manifest.name, manifest.version)
    data = json.loads(path.read_text())
    data["thresholds"] = thresholds
    path.write_text(json.dumps(data))
    return path


def test_load_refuses_a_model_below_the_given_thresholds_naming_the_metric(
    registry_copy: Path, manifest: Manifest
) -> None:
    bound, limit, violation = unmet(manifest.metrics)
    strict = Thresholds.from_table({bound: limit}, "[tool.mlprod.thresholds] in x")
    with pytest.raises(ValidityError) as excinfo:
        registry.load(registry_copy, manifest.name, manifest.version, Predictor, strict)
    path = registry.manifest_path(registry_copy, manifest.name, manifest.version)
    assert str(excinfo.value) == (
        f"{path}: {manifest.name} {manifest.version} fails its thresholds "
        f"([tool.mlprod.thresholds] in x): {violation}; refusing to serve it"
    )


def test_without_project_thresholds_the_recorded_ones_apply(
    registry_copy: Path, manifest: Manifest
) -> None:
    bound, limit, violation = unmet(manifest.metrics)
    path = record_thresholds(registry_copy, manifest, {bound: limit})
    with pytest.raises(ValidityError, match=f"\\(recorded in {path.name}\\): {violation}"):
        registry.load(registry_copy, manifest.name, manifest.version, Predictor)


def test_the_project_thresholds_replace_the_recorded_ones(
    registry_copy: Path, manifest: Manifest
) -> None:
    bound, limit, _ = unmet(manifest.metrics)
    record_thresholds(registry_copy, manifest, {bound: limit})
    relaxed = Thresholds.from_table({bound: limit - 2.0}, "the project")
    loaded = registry.load(registry_copy, manifest.name, manifest.version, Predictor, relaxed)
    assert loaded.manifest.version == manifest.version


def test_a_malformed_recorded_threshold_is_a_manifest_error(
    registry_copy: Path, manifest: Manifest
) -> None:
    path = record_thresholds(registry_copy, manifest, {"accuracy": 0.5})
    with pytest.raises(ManifestError, match=f"^{path}: \\[tool.mlprod.thresholds\\] accuracy"):
        registry.load(registry_copy, manifest.name, manifest.version, Predictor)


def test_save_refuses_an_existing_version_and_changes_nothing(
    registry_copy: Path, manifest: Manifest, predictor: Predictor
) -> None:
    before = {path.name: path.read_bytes() for path in registry_copy.iterdir()}
    with pytest.raises(VersionExistsError, match="bump the model version"):
        save_again(registry_copy, manifest, predictor)
    assert {path.name: path.read_bytes() for path in registry_copy.iterdir()} == before


def test_save_refuses_a_version_whose_artifact_alone_exists(
    registry_copy: Path, manifest: Manifest, predictor: Predictor
) -> None:
    registry.manifest_path(registry_copy, manifest.name, manifest.version).unlink()
    with pytest.raises(VersionExistsError, match=f"{manifest.artifact.file}"):
        save_again(registry_copy, manifest, predictor)


def test_save_leaves_no_partial_files_when_writing_fails(
    tmp_path: Path, manifest: Manifest, predictor: Predictor
) -> None:
    class BrokenPredictor(Predictor):
        def dump(self, path: Path) -> None:
            path.write_bytes(b"half an artifact")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_again(tmp_path, manifest, BrokenPredictor(predictor.pipeline))
    assert list(tmp_path.iterdir()) == []


def save_again(models_dir: Path, manifest: Manifest, model: Predictor) -> Manifest:
    return registry.save(
        models_dir,
        model,
        name=manifest.name,
        version=manifest.version,
        data=manifest.data,
        split=manifest.split,
        metrics=manifest.metrics,
        input_schema=manifest.input_schema,
        output=manifest.output,
    )


def test_git_state_is_null_outside_a_repository(tmp_path: Path) -> None:
    assert registry.git_state(tmp_path) == registry.GitState(commit=None, dirty=None)


def test_git_state_is_null_when_git_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert registry.git_state(tmp_path) == registry.GitState(commit=None, dirty=None)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_state_reports_the_commit_and_uncommitted_changes(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
        return subprocess.run(
            command, cwd=tmp_path, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "--quiet")
    (tmp_path / "train.py").write_text("print('hello')\n")
    git("add", "train.py")
    git("commit", "--quiet", "-m", "first")
    commit = git("rev-parse", "HEAD")
    assert registry.git_state(tmp_path) == registry.GitState(commit=commit, dirty=False)
    (tmp_path / "train.py").write_text("print('changed')\n")
    assert registry.git_state(tmp_path) == registry.GitState(commit=commit, dirty=True)
