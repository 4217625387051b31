"""Tracking and data versioning when neither is set up: training, `runs` and the refusals.

These need neither extra. The real MLflow server is in test_tracking_server.py (marker
`tracking`), the real DVC repository in test_dvc.py (marker `dvc`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model.manifest import read_manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig
from {{ cookiecutter.__package_name }}.tracking import tracking_uri

PROBE = """
import json, sys
from {{ cookiecutter.__package_name }} import cli
codes = [cli.main(["train", "--models-dir", "models"]), cli.main(["runs"])]
print(json.dumps(dict(codes=codes, modules=sorted(sys.modules))))
"""


@pytest.fixture
def workdir(tmp_path: Path, project: ProjectConfig, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's configuration and data, as the current directory, with no
    tracker configured."""
    shutil.copy(project.root / "pyproject.toml", tmp_path)
    shutil.copytree(project.root / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MODEL_VERSION", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_training_and_listing_runs_import_neither_mlflow_nor_dvc(
    workdir: Path, project: ProjectConfig
) -> None:
    """With no tracker configured and no data under DVC, neither library is imported (in a
    fresh interpreter, so that no other test's imports count), installed or not."""
    package = cli.__name__.split(".")[0]
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,
        env=env,
    )
    probe = json.loads(result.stdout.splitlines()[-1])
    assert probe["codes"] == [0, 0]
    assert f"{package}.tracking.data_version" in probe["modules"]
    assert [name for name in probe["modules"] if name.split(".")[0] in ("mlflow", "dvc")] == []
    manifest = read_manifest(workdir / "models" / f"{project.model_name}-0.1.0.json")
    assert manifest.data.dvc_md5 is None


def test_runs_lists_the_local_manifests_newest_first_without_a_tracker(
    workdir: Path,
    project: ProjectConfig,
    two_versions: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Newest by training time, not by version: 0.1.0 here was trained (say, a fix on an
    old line) after 0.2.0."""
    shutil.copytree(two_versions, workdir / "models")
    older = workdir / "models" / f"{project.model_name}-0.1.0.json"
    older.write_text(
        json.dumps({**json.loads(older.read_text()), "created_at": "2030-01-01T00:00:00+00:00"})
    )
    code, out, err = run(capsys, "runs")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    manifests = {
        version: read_manifest(workdir / "models" / f"{project.model_name}-{version}.json")
        for version in ("0.1.0", "0.2.0")
    }
    metrics = list(manifests["0.2.0"].metrics)
    assert lines[0].split() == ["VERSION", "TRAINED", "(UTC)", *map(str.upper, metrics), "RUN"]
    assert [line.split()[0] for line in lines[1:3]] == ["0.1.0", "0.2.0"]
    for line in lines[1:3]:
        manifest = manifests[line.split()[0]]
        trained = datetime.fromisoformat(manifest.created_at).strftime("%Y-%m-%d %H:%M:%S")
        assert line.split()[1:3] == trained.split()
        values = [f"{value:.4f}" for value in manifest.metrics.values()]
        assert line.split()[3:] == [*values, "-"]
    assert lines[3:] == ["from the manifests in models"]


def test_runs_says_when_there_is_nothing_to_list(
    workdir: Path, project: ProjectConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "runs")
    assert code == 0
    assert out == (
        f"No runs of {project.model_name} in the manifests in models: "
        f"train one with `{cli.PROG} train`\n"
    )


def test_runs_sync_without_a_tracker_is_refused_in_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "runs", "sync") == (
        1,
        "",
        "error: runs sync needs a tracker: set MLFLOW_TRACKING_URI or pass --tracking-uri\n",
    )


def test_runs_refuses_a_limit_below_one(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "runs", "--limit", "0") == (
        1,
        "",
        "error: --limit must be a positive number of runs, got 0\n",
    )


def test_a_tracker_without_mlflow_installed_is_refused_before_training(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if the tracking extra were absent
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    code, out, err = run(capsys, "train", "--models-dir", "models")
    assert (code, out) == (1, "")
    assert err == (
        "error: tracking to http://127.0.0.1:9 needs MLflow's client, which is not installed: "
        "pip install -e '.[tracking]' (or unset MLFLOW_TRACKING_URI)\n"
    )
    assert not (workdir / "models").exists()


def test_data_under_dvc_without_dvc_installed_is_refused_before_training(
    workdir: Path,
    project: ProjectConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert project.data is not None
    data = Path("data") / project.data.path.name
    (workdir / ".dvc").mkdir()
    (workdir / "data" / f"{data.name}.dvc").write_text(f"outs:\n- path: {data.name}\n")
    monkeypatch.setitem(sys.modules, "dvc", None)  # as if the dvc extra were absent
    code, out, err = run(capsys, "train", "--models-dir", "models")
    assert (code, out) == (1, "")
    assert err == (
        f"error: {workdir / data} is under DVC ({data.name}.dvc) and DVC is not installed: "
        "pip install -e '.[dvc]'\n"
    )
    assert not (workdir / "models").exists()


def test_the_tracking_flag_wins_over_the_environment() -> None:
    environ = {"MLFLOW_TRACKING_URI": "http://tracker:5000"}
    assert tracking_uri("http://other:5000", environ) == "http://other:5000"
    assert tracking_uri(None, environ) == "http://tracker:5000"
    assert tracking_uri(None, {"MLFLOW_TRACKING_URI": ""}) is None
    assert tracking_uri(None, {}) is None


def test_the_commands_help_names_the_tracking_options(capsys: pytest.CaptureFixture[str]) -> None:
    for command, options in (
        ("train", ["--tracking-uri", "--allow-dirty-data"]),
        ("runs", ["sync", "--tracking-uri", "--limit"]),
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert all(option in out for option in options), (command, out)
