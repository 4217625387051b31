"""predict-batch on Spark: a real standalone cluster gives the local engine's answers, and an
executor refuses an artifact that does not match its manifest.

Needs Java 17 or 21 and the project's ``spark`` extra. The cluster (one master, one
worker) is started from pyspark's own ``spark-class`` on loopback and stopped by pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model.errors import IntegrityError
from {{ cookiecutter.__package_name }}.model.registry import Manifest

from contract import FEATURES, NUMBER, PROJECT, instances
from servers import LOOPBACK, free_port

pytestmark = pytest.mark.spark

ID = "_row"
START_TIMEOUT = 120.0
"""Seconds for a master and a worker to start and register, on a busy machine."""


def _pyspark() -> Any:
    """pyspark (the spark extra), imported by the tests that need it, so that without it
    they skip and the rest of the suite is collected as usual."""
    return pytest.importorskip("pyspark", reason="the spark extra is not installed")


def spark_environ() -> dict[str, str]:
    _pyspark()
    if shutil.which("java") is None:
        pytest.skip("no java on PATH (apt-get install openjdk-17-jre-headless)")
    return os.environ | {"SPARK_LOCAL_IP": LOOPBACK, "PYSPARK_PYTHON": sys.executable}


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone master and one worker on 127.0.0.1; the master's URL."""
    environ = spark_environ()
    spark_class = Path(_pyspark().__file__).parent / "bin" / "spark-class"
    logs = tmp_path_factory.mktemp("spark")
    port, ui_port, worker_ui_port = free_port(), free_port(), free_port()
    master_url = f"spark://{LOOPBACK}:{port}"
    deploy = "org.apache.spark.deploy"
    commands = {
        "master": [f"{deploy}.master.Master", "--host", LOOPBACK, "--port", str(port),
                   "--webui-port", str(ui_port)],
        "worker": [f"{deploy}.worker.Worker", "--host", LOOPBACK, "--webui-port",
                   str(worker_ui_port), "--cores", "2", "--memory", "2g", "--work-dir",
                   str(logs / "work"), master_url],
    }  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, arguments in commands.items():
            with (logs / f"{name}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [str(spark_class), *arguments], env=environ, stdout=log, stderr=log
                    )
                )
        deadline = time.monotonic() + START_TIMEOUT
        while _alive_workers(ui_port) < 1:
            for process in processes:
                if process.poll() is not None:
                    pytest.fail(f"a Spark process exited: {_tail(logs)}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no Spark worker registered within {START_TIMEOUT:.0f} s: {_tail(logs)}"
                )
            time.sleep(0.5)
        yield master_url
    finally:
        for process in reversed(processes):
            stop(process)


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{ui_port}/json/", timeout=2) as answer:
            return int(json.loads(answer.read()).get("aliveworkers", 0))
    except (OSError, ValueError):
        return 0


def _tail(logs: Path) -> str:
    return " | ".join(path.read_text()[-1500:] for path in sorted(logs.glob("*.log")))


@pytest.fixture(autouse=True)
def _in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT.root)


def test_a_standalone_cluster_gives_the_local_engines_answers(
    cluster: str, tmp_path: Path, models_dir: Path, manifest: Manifest
) -> None:
    frame = pd.DataFrame(instances(1000), columns=[f.name for f in FEATURES]).astype(object)
    frame.insert(0, ID, [f"r{index}" for index in range(len(frame))])
    frame.loc[3, NUMBER.name] = "abc"  # a reject, too
    frame.to_csv(tmp_path / "rows.csv", index=False)
    common = ["--id-column", ID, "--models-dir", str(models_dir)]
    local = tmp_path / "local.parquet"
    assert cli.main(["predict-batch", str(tmp_path / "rows.csv"), str(local), *common]) == 0
    on_spark = tmp_path / "spark.parquet"
    result = subprocess.run(
        [sys.executable, "-m", cli.__name__, "predict-batch", str(tmp_path / "rows.csv"),
         str(on_spark), "--engine", "spark", "--master", cluster, "--json", *common],
        env=spark_environ(), capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert (summary["engine"], summary["rows"], summary["rejected"]) == ("spark", len(frame), 1)
    scored = pd.read_parquet(on_spark)
    assert set(scored["model_version"]) == {manifest.version}
    pd.testing.assert_frame_equal(scored, pd.read_parquet(local))
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "spark.rejects.parquet"),
        pd.read_parquet(tmp_path / "local.rejects.parquet"),
    )


def test_an_executor_refuses_an_artifact_that_does_not_match(
    tmp_path: Path, models_dir: Path, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each executor runs before loading: the registry's hash check, on its copies."""
    from {{ cookiecutter.__package_name }}.batch import spark

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    manifest_file = f"{manifest.name}-{manifest.version}.json"
    files = [manifest.artifact.file, manifest_file]
    runtimes = ["native"]
    if manifest.compiled is not None:  # shipped too, and checked whichever runtime scores
        files.append(manifest.compiled.file)
        runtimes.append("onnx")
    for name in files:
        shutil.copyfile(models_dir / name, shipped / name)
    monkeypatch.setattr(_pyspark().SparkFiles, "get", lambda name: str(shipped / name))
    arguments = (manifest.name, manifest.version, manifest.artifact.sha256, manifest_file)
    for runtime in runtimes:
        scorer = spark._verified_scorer(*arguments, None, False, runtime)
        assert scorer.feature_names == manifest.input_schema.names
        with pytest.raises(IntegrityError, match="the driver verified"):
            spark._verified_scorer(
                manifest.name, manifest.version, "0" * 64, manifest_file, None, False, runtime
            )
    with (shipped / manifest.artifact.file).open("ab") as artifact:
        artifact.write(b"tampered")
    for runtime in runtimes:
        with pytest.raises(IntegrityError, match="does not match its manifest"):
            spark._verified_scorer(*arguments, None, False, runtime)


def test_a_failed_job_is_reported_by_its_python_error() -> None:
    from {{ cookiecutter.__package_name }}.batch import spark

    message = (
        "An error occurred while calling o65.getResult.\n"
        ": org.apache.spark.SparkException: Job aborted due to stage failure\n"
        "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages\n"
        '  File "spark.py", line 140, in _verified_scorer\n'
        "IntegrityError: model.json: names artifact SHA-256 abc, the driver verified def\n"
        "\tat org.apache.spark.api.python.BasePythonRunner\n"
    )
    assert spark._cause(RuntimeError(message)) == (
        "IntegrityError: model.json: names artifact SHA-256 abc, the driver verified def"
    )
    assert spark._cause(RuntimeError("Java gateway process exited")) == (
        "Java gateway process exited"
    )
