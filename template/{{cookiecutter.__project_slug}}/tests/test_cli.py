"""The `models` and `serve-version` commands, run in a copy of the project."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model import selection
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.registry import (
    Manifest,
    read_manifest,
    sha256_file,
)
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig

from contract import PROJECT, unmet, with_thresholds

THRESHOLDS = f"thresholds: {PROJECT.thresholds.describe()} ({PROJECT.thresholds.source})"


@pytest.fixture
def workdir(
    tmp_path: Path,
    project: ProjectConfig,
    two_versions: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A project holding 0.1.0 and 0.2.0, as the current directory; MODEL_VERSION unset.

    Only pyproject.toml and models/ are copied: the project's own models/ (and its
    chain-reload trigger) are never touched by tests.
    """
    shutil.copy(project.root / "pyproject.toml", tmp_path)
    shutil.copytree(two_versions, tmp_path / "models")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODEL_VERSION", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def manifest_of(workdir: Path, project: ProjectConfig, version: str) -> Manifest:
    return read_manifest(workdir / "models" / f"{project.model_name}-{version}.json")


def created(workdir: Path, project: ProjectConfig, version: str) -> str:
    manifest = manifest_of(workdir, project, version)
    return datetime.fromisoformat(manifest.created_at).strftime("%Y-%m-%d %H:%M:%S")


def flip_a_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


def mismatch(workdir: Path, artifact: Path) -> str:
    """The integrity gate's message for an altered artifact, relative to ``workdir``."""
    manifest = read_manifest(artifact.with_suffix(".json"))
    return (
        f"{artifact.relative_to(workdir)}: SHA-256 {sha256_file(artifact)} does not match "
        f"its manifest ({manifest.artifact.sha256}); refusing to load it"
    )


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in directory.iterdir()}


# models -----------------------------------------------------------------------------------


def test_models_lists_versions_newest_first_marking_the_served_one(
    workdir: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "models")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    metrics = list(manifest_of(workdir, project, "0.2.0").metrics)
    assert lines[0].split() == ["VERSION", "CREATED", "(UTC)", *map(str.upper, metrics), "GATES"]
    for line, mark, version in ((lines[1], "*", "0.2.0"), (lines[2], " ", "0.1.0")):
        values = manifest_of(workdir, project, version).metrics.values()
        assert line.startswith(f"{mark}  {version}    {created(workdir, project, version)}  ")
        assert line.split()[-1 - len(values) : -1] == [f"{value:.4f}" for value in values]
        assert line.endswith("ok")
    assert lines[3] == "* served: MODEL_VERSION unset, so latest (the highest release)"
    assert lines[4:] == [THRESHOLDS]


def test_models_marks_the_version_model_version_names(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_VERSION", "0.1.0")
    lines = run(capsys, "models")[1].splitlines()
    assert [line[:8] for line in lines[1:3]] == ["   0.2.0", "*  0.1.0"]
    assert lines[3] == "* served: MODEL_VERSION=0.1.0"


def test_models_shows_that_the_serving_file_overrides_model_version(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "models" / "SERVING").write_text("0.1.0\n")
    monkeypatch.setenv("MODEL_VERSION", "0.2.0")
    lines = run(capsys, "models")[1].splitlines()
    assert [line[:8] for line in lines[1:3]] == ["   0.2.0", "*  0.1.0"]
    assert lines[3] == "* served: 0.1.0, named in models/SERVING (it overrides MODEL_VERSION)"


def test_models_says_when_no_version_would_be_served(
    workdir: Path,
    project: ProjectConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODEL_VERSION", "0.3.0")
    lines = run(capsys, "models")[1].splitlines()
    assert not any(line.startswith("*") for line in lines)
    assert lines[3] == (
        "served: none, a server would not start: MODEL_VERSION=0.3.0: "
        f"{project.model_name} 0.3.0 not found: no manifest "
        f"models/{project.model_name}-0.3.0.json (available: 0.2.0, 0.1.0)"
    )


def test_models_says_when_the_serving_file_names_no_version(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "models" / "SERVING").write_text("previous\n")
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert out.splitlines()[3] == (
        "served: none, a server would not start: models/SERVING: 'previous' is neither "
        "'latest' nor a semantic version; rewrite it with `serve-version VERSION` or delete it"
    )


def test_models_refuses_a_model_version_that_is_not_a_version(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_VERSION", "newest")
    assert run(capsys, "models") == (
        1,
        "",
        "error: MODEL_VERSION must be 'latest' or a semantic version, got 'newest'\n",
    )


def test_models_shows_the_versions_the_gates_refuse_and_why(
    workdir: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = workdir / "models" / f"{project.model_name}-0.1.0{Predictor.suffix}"
    flip_a_byte(artifact)
    metric, value = next(iter(manifest_of(workdir, project, "0.2.0").metrics.items()))
    limit = value - 1.0
    pyproject = workdir / "pyproject.toml"
    pyproject.write_text(with_thresholds(pyproject.read_text(), {f"max_{metric}": limit}))
    lines = run(capsys, "models")[1].splitlines()
    assert [line.split()[-1] for line in lines[1:3]] == ["REFUSED", "REFUSED"]
    assert lines[4] == (
        f"thresholds: max_{metric} {limit} ([tool.mlprod.thresholds] in pyproject.toml)"
    )
    assert lines[5] == (
        f"0.2.0 refused: models/{project.model_name}-0.2.0.json: {project.model_name} 0.2.0 "
        "fails its thresholds ([tool.mlprod.thresholds] in pyproject.toml): "
        f"{metric} {value} > max_{metric} {limit}; refusing to serve it"
    )
    assert lines[6] == f"0.1.0 refused: {mismatch(workdir, artifact)}"


def test_models_with_an_empty_registry_says_how_to_train(
    workdir: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(workdir / "models")
    # The command's name is a variable, so this line's layout does not depend on it.
    command = "{{ cookiecutter.__project_slug }}"
    expected = f"No versions of {project.model_name} in models: train one with `{command} train`\n"
    assert run(capsys, "models") == (0, expected, "")


# serve-version ----------------------------------------------------------------------------


def test_serve_version_records_the_choice_and_triggers_a_chain_reload(
    workdir: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "serve-version", "0.1.0") == (
        0,
        f"Serving {project.model_name} 0.1.0\n"
        "  recorded   models/SERVING (overrides MODEL_VERSION)\n"
        "  reload     touched models/.reload: uWSGI replaces its workers one at a time\n",
        "",
    )
    assert (workdir / "models" / "SERVING").read_text() == "0.1.0\n"
    assert (workdir / "models" / ".reload").is_file()


def test_each_switch_moves_the_trigger_on_by_a_whole_second(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trigger = workdir / "models" / ".reload"
    stamps = []
    for version in ("0.1.0", "0.2.0", "0.1.0"):
        assert run(capsys, "serve-version", version)[0] == 0
        stamps.append(int(trigger.stat().st_mtime))
    assert stamps[0] < stamps[1] < stamps[2]
    assert (workdir / "models" / "SERVING").read_text() == "0.1.0\n"


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            "0.3.0",
            "{name} 0.3.0 not found: no manifest models/{name}-0.3.0.json "
            "(available: 0.2.0, 0.1.0)",
        ),
        ("latest", "'latest' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)"),
    ],
    ids=["missing", "not-exact"],
)
def test_serve_version_refuses_a_version_not_in_the_registry_and_changes_nothing(
    workdir: Path,
    project: ProjectConfig,
    capsys: pytest.CaptureFixture[str],
    version: str,
    message: str,
) -> None:
    before = snapshot(workdir / "models")
    assert run(capsys, "serve-version", version) == (
        1,
        "",
        f"error: {message.format(name=project.model_name)}\n",
    )
    assert snapshot(workdir / "models") == before


def test_serve_version_refuses_an_altered_artifact_and_keeps_the_current_choice(
    workdir: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "serve-version", "0.2.0")[0] == 0
    artifact = workdir / "models" / f"{project.model_name}-0.1.0{Predictor.suffix}"
    flip_a_byte(artifact)
    before = snapshot(workdir / "models")
    assert run(capsys, "serve-version", "0.1.0") == (
        1,
        "",
        f"error: {mismatch(workdir, artifact)}\n",
    )
    assert snapshot(workdir / "models") == before


def test_serve_version_refuses_a_model_below_the_thresholds_naming_the_metric(
    workdir: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    bound, limit, violation = unmet(manifest_of(workdir, project, "0.1.0").metrics)
    pyproject = workdir / "pyproject.toml"
    pyproject.write_text(with_thresholds(pyproject.read_text(), {bound: limit}))
    before = snapshot(workdir / "models")
    assert run(capsys, "serve-version", "0.1.0") == (
        1,
        "",
        f"error: models/{project.model_name}-0.1.0.json: {project.model_name} 0.1.0 fails its "
        f"thresholds ([tool.mlprod.thresholds] in pyproject.toml): {violation}; "
        "refusing to serve it\n",
    )
    assert snapshot(workdir / "models") == before


def test_serve_version_puts_the_choice_back_when_the_trigger_cannot_be_touched(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "serve-version", "0.2.0")[0] == 0

    def read_only(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(selection, "touch_trigger", read_only)
    assert run(capsys, "serve-version", "0.1.0") == (
        1,
        "",
        "error: cannot touch models/.reload (Permission denied); models/SERVING left as it was\n",
    )
    assert (workdir / "models" / "SERVING").read_text() == "0.2.0\n"


def test_serve_version_uses_the_registry_given_with_models_dir(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = Path(shutil.copytree(workdir / "models", workdir / "elsewhere"))
    assert run(capsys, "serve-version", "0.1.0", "--models-dir", str(elsewhere))[0] == 0
    assert (elsewhere / "SERVING").read_text() == "0.1.0\n"
    assert not (workdir / "models" / "SERVING").exists()
    assert (workdir / "models" / ".reload").is_file()


def test_the_reload_trigger_is_the_one_uwsgi_watches(project: ProjectConfig) -> None:
    ini = (project.root / "uwsgi.ini").read_text()
    assert f"touch-chain-reload = %d{cli.RELOAD_TRIGGER.as_posix()}\n" in ini
