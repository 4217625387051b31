"""Data under DVC, in a real DVC repository with a local remote: the documented path
(``dvc add``, ``push``, ``pull``), the hash the manifest records, and training refusing
data that changed until it is added again.

Needs the project's ``dvc`` extra (its ``dvc`` command and library) and git.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model.manifest import Manifest, read_manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig

pytestmark = pytest.mark.dvc


def run(root: Path, *command: str) -> str:
    """A command in ``root`` (git with an identity, DVC without analytics); its output."""
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "tests",
        "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "tests",
        "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    }
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, project: ProjectConfig) -> Path:
    """A copy of the project, its data committed to git and then moved under DVC with a
    local remote, the documented way."""
    pytest.importorskip("dvc", reason="the dvc extra is not installed")
    dvc = str(Path(sys.executable).with_name("dvc"))
    assert project.data is not None
    folder = tmp_path_factory.mktemp("dvc")
    root = folder / "project"
    root.mkdir()
    shutil.copy(project.root / "pyproject.toml", root)
    shutil.copytree(project.root / "data", root / "data")
    data = Path("data") / project.data.path.name
    run(root, "git", "init", "-q")
    run(root, "git", "add", ".")
    run(root, "git", "commit", "-q", "-m", "the project, its data in git")
    # The documented path: the data leaves git for DVC, and goes to the remote.
    run(root, dvc, "init", "-q")
    run(root, dvc, "remote", "add", "-d", "local", str(folder / "remote"))
    run(root, "git", "rm", "-q", "--cached", str(data))
    run(root, dvc, "add", "-q", str(data))
    run(root, "git", "add", ".")
    run(root, "git", "commit", "-q", "-m", "the data under DVC")
    run(root, dvc, "push", "-q")
    return root


@pytest.fixture
def repository(
    prepared: Path, tmp_path: Path, project: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A copy of `prepared` (its git and DVC state, the same remote) for one test, as the
    current directory; the project and its data file."""
    assert project.data is not None
    root = tmp_path / "project"
    shutil.copytree(prepared, root, symlinks=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return root, root / "data" / project.data.path.name


def recorded_md5(data: Path) -> str:
    """The md5 that ``data``'s .dvc file records (``- md5: <hash>``)."""
    dvc_file = data.with_name(data.name + ".dvc").read_text()
    (line,) = [line for line in dvc_file.splitlines() if line.strip().startswith("- md5:")]
    return line.split(":", 1)[1].strip()


def train(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["train", "--models-dir", "models", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def bump(root: Path, version: str) -> None:
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    start = text.index('model_version = "') + len('model_version = "')
    pyproject.write_text(text[:start] + version + text[text.index('"', start) :])


def manifest(root: Path, project: ProjectConfig, version: str) -> Manifest:
    return read_manifest(root / "models" / f"{project.model_name}-{version}.json")


def test_the_data_goes_to_the_remote_and_comes_back(repository: tuple[Path, Path]) -> None:
    root, data = repository
    content = data.read_bytes()
    data.unlink()
    run(root, str(Path(sys.executable).with_name("dvc")), "pull", "-q")
    assert data.read_bytes() == content
    assert run(root, "git", "status", "--porcelain") == ""  # the data itself is not in git


def test_the_manifest_records_the_hash_dvc_tracks_the_data_by(
    repository: tuple[Path, Path], project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    root, data = repository
    assert train(capsys)[0] == 0
    recorded = manifest(root, project, project.model_version).data
    assert recorded.dvc_md5 == recorded_md5(data)
    assert recorded.dvc_md5 == hashlib.md5(data.read_bytes()).hexdigest()
    assert recorded.sha256 == hashlib.sha256(data.read_bytes()).hexdigest()


def test_changed_data_is_refused_until_it_is_added(
    repository: tuple[Path, Path], project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    root, data = repository
    before = recorded_md5(data)
    lines = data.read_text().splitlines(keepends=True)
    data.write_text("".join([*lines, lines[-1]]))  # one more row
    code, out, err = train(capsys)
    assert (code, out) == (1, "")
    assert err == (
        f"error: {data} does not match {data.name}.dvc ({data.relative_to(root)} modified): "
        f"record it with `dvc add {data}` (or restore it with `dvc checkout`), or train on it "
        "anyway with --allow-dirty-data\n"
    )
    assert not (root / "models").exists()

    run(root, str(Path(sys.executable).with_name("dvc")), "add", "-q", str(data))
    assert train(capsys)[0] == 0
    after = manifest(root, project, project.model_version).data.dvc_md5
    assert after == recorded_md5(data) != before


def test_changed_data_is_trained_on_when_told_with_no_dvc_hash_recorded(
    repository: tuple[Path, Path], project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    root, data = repository
    data.write_text(data.read_text() + data.read_text().splitlines(keepends=True)[-1])
    code, _, err = train(capsys, "--allow-dirty-data")
    assert (code, err) == (0, "")
    recorded = manifest(root, project, project.model_version).data
    assert recorded.dvc_md5 is None
    assert recorded.sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
