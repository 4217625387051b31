"""`mlprod package`: every path a user can take, errors included, with the exact message.

The sdist and wheel build (`python -m build`, which needs the package index) is replaced
by a stand-in that writes two files, and the container engine by a stand-in `docker`
script: the real ones run in the gates tier (test_package_gates.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from projects import PYPROJECT
from typer.testing import CliRunner, Result

from mlprod_cli.main import app
from mlprod_cli.project import Project
from mlprod_cli.release import packaging

ARTIFACT = b"a trained model"
WHEEL = "credit_risk_scorer-0.1.0-py3-none-any.whl"
SDIST = "credit_risk_scorer-0.1.0.tar.gz"
BUNDLE = "models/credit-risk-scorer-0.1.0.tar.gz"
IMAGE_ID = "ab" * 32

FAKE_DOCKER = f"""\
#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
case "$1" in
  version) exit 0 ;;
  build) if [ -n "$FAKE_DOCKER_FAIL" ]; then
           echo "Error: building at STEP 3: exit status 1" >&2; exit 1
         fi ;;
  image) echo '[{{"Id": "sha256:{IMAGE_ID}", "Size": 524880638}}]' ;;
esac
"""


def package(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, ["package", *args])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A trained project (one artifact and its manifest), and the current folder."""
    root = tmp_path / "credit-risk-scorer"
    (root / "models").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (root / "models" / "credit-risk-scorer-0.1.0.joblib").write_bytes(ARTIFACT)
    manifest = {
        "name": "credit-risk-scorer",
        "version": "0.1.0",
        "artifact": {"file": "credit-risk-scorer-0.1.0.joblib", "sha256": sha256(ARTIFACT)},
    }
    (root / "models" / "credit-risk-scorer-0.1.0.json").write_text(json.dumps(manifest))
    monkeypatch.chdir(root)
    return root


@pytest.fixture(autouse=True)
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """`python -m build` replaced: it writes a wheel and an sdist; the projects it built."""
    built: list[Path] = []

    def build_distributions(project: Project, out_dir: Path) -> list[Path]:
        built.append(project.root)
        out_dir.mkdir(parents=True)
        (out_dir / WHEEL).write_bytes(b"wheel")
        (out_dir / SDIST).write_bytes(b"sdist")
        return [out_dir / WHEEL, out_dir / SDIST]

    monkeypatch.setattr(packaging, "build_distributions", build_distributions)
    return built


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No `docker` command on PATH."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `docker` that answers and builds; the file where it logs its calls."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir / "calls"


def table(stdout: str) -> list[list[str]]:
    """The table's rows as cells, after checking that its columns line up."""
    lines = stdout.splitlines()[1:]
    assert len({line.rindex("  ") for line in lines}) == 1, "the sha256 column is ragged"
    return [re.split(r" {2,}", line.strip()) for line in lines]


def test_without_an_engine_it_says_so_and_writes_the_rest(
    runner: CliRunner, project: Path, no_engine: None
) -> None:
    result = package(runner)
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "Building the sdist and wheel of credit-risk-scorer (python -m build)...\n"
        "no image built: no `docker` command on PATH; wrote the rest "
        "(pass --no-image to skip it quietly)\n"
    )
    assert result.stdout.splitlines()[0] == (
        "Packaged credit-risk-scorer with model credit-risk-scorer 0.1.0 in dist"
    )
    bundle = (project / "dist" / BUNDLE).read_bytes()
    checksums = (project / "dist" / "SHA256SUMS").read_bytes()
    assert table(result.stdout) == [
        ["path", "size", "sha256"],
        [f"dist/{WHEEL}", "5 B", sha256(b"wheel")],
        [f"dist/{SDIST}", "5 B", sha256(b"sdist")],
        [f"dist/{BUNDLE}", f"{len(bundle)} B", sha256(bundle)],
        ["dist/SHA256SUMS", f"{len(checksums)} B", sha256(checksums)],
    ]


def test_sha256sum_accepts_the_checksums(runner: CliRunner, project: Path) -> None:
    assert package(runner, "--no-image").exit_code == 0
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=project / "dist", capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout == f"{WHEEL}: OK\n{SDIST}: OK\n{BUNDLE}: OK\n"


def test_no_image_builds_none_and_says_nothing_about_it(
    runner: CliRunner, project: Path, fake_docker: Path
) -> None:
    result = package(runner, "--no-image")
    assert result.exit_code == 0, result.output
    assert "image" not in result.stdout + result.stderr
    assert not fake_docker.exists()


def test_with_an_engine_it_builds_the_image_pinned_to_the_model_version(
    runner: CliRunner, project: Path, fake_docker: Path
) -> None:
    result = package(runner)
    assert result.exit_code == 0, result.output
    calls = fake_docker.read_text().splitlines()
    assert calls == [
        "version",
        f"build --tag credit-risk-scorer:0.1.0 --build-arg MODEL_VERSION=0.1.0 {project}",
        "image inspect credit-risk-scorer:0.1.0",
    ]
    assert table(result.stdout)[-1] == ["credit-risk-scorer:0.1.0 (image)", "501 MiB", IMAGE_ID]
    assert "Building the image credit-risk-scorer:0.1.0" in result.stderr


def test_json_lists_the_same_rows_for_ci(
    runner: CliRunner, project: Path, fake_docker: Path
) -> None:
    result = package(runner, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["project"] == "credit-risk-scorer"
    assert document["model"] == {"name": "credit-risk-scorer", "version": "0.1.0"}
    assert document["out"] == "dist"
    assert document["image_skipped"] is None
    assert [(row["kind"], row["path"]) for row in document["made"]] == [
        ("wheel", f"dist/{WHEEL}"),
        ("sdist", f"dist/{SDIST}"),
        ("model", f"dist/{BUNDLE}"),
        ("checksums", "dist/SHA256SUMS"),
        ("image", "credit-risk-scorer:0.1.0"),
    ]
    assert document["made"][1] == {
        "kind": "sdist",
        "path": f"dist/{SDIST}",
        "size": 5,
        "sha256": sha256(b"sdist"),
    }
    assert document["made"][-1]["sha256"] == IMAGE_ID


def test_out_and_project_options(
    runner: CliRunner, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = package(runner, "--project", str(project), "--out", "release", "--no-image")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (elsewhere / "release").iterdir()) == sorted(
        ["SHA256SUMS", WHEEL, SDIST, "models"]
    )
    assert not (project / "dist").exists()


def test_refuses_a_project_without_a_trained_model(
    runner: CliRunner, project: Path, builds: list[Path]
) -> None:
    (project / "models" / "credit-risk-scorer-0.1.0.json").unlink()
    result = package(runner, "--no-image")
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: no trained credit-risk-scorer model in {project / 'models'}; "
        "train one first (`credit-risk-scorer train`)\n"
    )
    assert builds == []
    assert not (project / "dist").exists()


def test_refuses_an_artifact_changed_after_training(runner: CliRunner, project: Path) -> None:
    (project / "models" / "credit-risk-scorer-0.1.0.joblib").write_bytes(b"tampered")
    result = package(runner, "--no-image")
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: {project / 'models' / 'credit-risk-scorer-0.1.0.joblib'} does not match "
        f"the SHA-256 in {project / 'models' / 'credit-risk-scorer-0.1.0.json'}; it changed "
        "after training: train the model again under a new version (`mlprod bump patch`)\n"
    )
    assert not (project / "dist").exists()


def test_refuses_a_missing_artifact(runner: CliRunner, project: Path) -> None:
    (project / "models" / "credit-risk-scorer-0.1.0.joblib").unlink()
    result = package(runner, "--no-image")
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: {project / 'models' / 'credit-risk-scorer-0.1.0.joblib'} is missing "
        f"(its manifest is {project / 'models' / 'credit-risk-scorer-0.1.0.json'})\n"
    )


def test_image_without_an_engine_fails_before_writing_anything(
    runner: CliRunner, project: Path, no_engine: None, builds: list[Path]
) -> None:
    result = package(runner, "--image")
    assert result.exit_code == 1
    assert result.stderr == (
        "mlprod: --image needs a container engine: no `docker` command on PATH; "
        "or pass --no-image\n"
    )
    assert builds == []
    assert not (project / "dist").exists()


def test_a_failed_image_build_writes_nothing(
    runner: CliRunner, project: Path, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "1")
    result = package(runner)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "mlprod: `docker build` failed: Error: building at STEP 3: exit status 1"
    )
    assert not (project / "dist").exists()


def test_out_that_is_a_file_is_refused(runner: CliRunner, project: Path) -> None:
    (project / "notes.txt").write_text("")
    result = package(runner, "--out", "notes.txt", "--no-image")
    assert result.exit_code == 1
    assert result.stderr == f"mlprod: --out {project / 'notes.txt'} is a file, not a folder\n"


def test_outside_a_project_it_says_where_to_run(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = package(runner)
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: no mlprod project here or above {tmp_path.resolve()}; "
        "run inside a project made by `mlprod new` or pass --project\n"
    )


@pytest.fixture
def compiled(project: Path) -> Path:
    """The project's version with a compiled artifact listed in its manifest too."""
    onnx = project / "models" / "credit-risk-scorer-0.1.0.onnx"
    onnx.write_bytes(b"onnx model")
    path = project / "models" / "credit-risk-scorer-0.1.0.json"
    manifest = json.loads(path.read_text())
    manifest["compiled"] = {"file": onnx.name, "sha256": sha256(b"onnx model")}
    path.write_text(json.dumps(manifest))
    return onnx


def test_the_bundle_holds_the_compiled_artifact_too(
    runner: CliRunner, project: Path, compiled: Path
) -> None:
    assert package(runner, "--no-image").exit_code == 0
    with tarfile.open(project / "dist" / BUNDLE) as bundle:
        assert sorted(bundle.getnames()) == sorted(
            [
                "credit-risk-scorer-0.1.0.joblib",
                "credit-risk-scorer-0.1.0.onnx",
                "credit-risk-scorer-0.1.0.json",
            ]
        )


def test_refuses_a_compiled_artifact_changed_after_training(
    runner: CliRunner, project: Path, compiled: Path
) -> None:
    compiled.write_bytes(b"tampered")
    result = package(runner, "--no-image")
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: {compiled} does not match the SHA-256 in "
        f"{project / 'models' / 'credit-risk-scorer-0.1.0.json'}; it changed "
        "after training: train the model again under a new version (`mlprod bump patch`)\n"
    )
    assert not (project / "dist").exists()
