"""Compiled inference under real uWSGI: MODEL_RUNTIME=onnx answers as native does.

Two servers from uwsgi.ini, one worker each, over the same registry: one serves the
compiled model, the other the native one. Every held-out row goes to both, with
probabilities. A tampered compiled file stops a server at start, as a tampered native
one does. (Marked ``serving`` to run once, in the default combination; every combination
checks the same equivalence in process, in test_compiled.py.)
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from {{ cookiecutter.__package_name }}.model.compiled import TOLERANCE
from {{ cookiecutter.__package_name }}.model.manifest import CompiledArtifact
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig, evaluate
from test_server import READY_TIMEOUT, Server, call, scrape, stop

from servers import LOOPBACK, free_port, require_uwsgi, uwsgi_environ

pytestmark = pytest.mark.serving

START_TIMEOUT = 90.0
"""Longer than test_server's: these servers start while the machine may be busy with
other suites, one after the other (never two cold starts at once)."""


def start(
    project: ProjectConfig,
    models_dir: Path,
    manifest: Manifest,
    runtime: str,
    directory: Path,
) -> tuple[subprocess.Popen[bytes], Server]:
    port, stats_port = free_port(), free_port()
    metrics_dir = directory / "metrics"
    metrics_dir.mkdir(parents=True)
    environ = uwsgi_environ(models_dir, manifest, port, stats_port, metrics_dir)
    environ |= {"MODEL_RUNTIME": runtime, "UWSGI_PROCESSES": "1"}
    log = directory / "uwsgi.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [require_uwsgi(), "--ini", str(project.root / "uwsgi.ini")],
            cwd=project.root,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(
        url=f"http://{LOOPBACK}:{port}",
        stats_url=f"http://{LOOPBACK}:{stats_port}",
        log=log,
        metrics_dir=metrics_dir,
    )
    return process, server


@pytest.fixture(scope="module")
def servers(
    compiled: CompiledArtifact,
    project: ProjectConfig,
    models_dir: Path,
    manifest: Manifest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Server]]:
    started: dict[str, tuple[subprocess.Popen[bytes], Server]] = {}
    try:
        for runtime in ("onnx", "native"):
            directory = tmp_path_factory.mktemp(runtime)
            started[runtime] = start(project, models_dir, manifest, runtime, directory)
            ready(*started[runtime])
        yield {runtime: server for runtime, (_, server) in started.items()}
    finally:
        for process, _ in started.values():
            stop(process)


def ready(process: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log.read_text()[-3000:]
            pytest.fail(f"uWSGI exited with {process.returncode}:\n{tail}")
        try:
            if call("GET", f"{server.url}/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"uWSGI not ready within {START_TIMEOUT:.0f} s:\n{server.log.read_text()[-3000:]}")


def instances(manifest: Manifest, rows: np.ndarray) -> list[dict[str, Any]]:
    """Rows of the feature matrix as the API takes them (a gap is ``null``)."""
    result = []
    for row in rows:
        instance: dict[str, Any] = {}
        for feature, value in zip(manifest.input_schema.features, row, strict=True):
            if feature.type == "string":
                instance[feature.name] = value or None
            elif isinstance(value, float) and math.isnan(value):
                instance[feature.name] = None
            else:
                number = float(value)
                instance[feature.name] = int(number) if feature.type == "integer" else number
        result.append(instance)
    return result


def test_onnx_answers_as_native_on_every_held_out_row(
    servers: dict[str, Server], manifest: Manifest, project: ProjectConfig, seed: int
) -> None:
    held_out = evaluate(project, seed=seed).held_out_rows
    body = {"instances": instances(manifest, held_out)}
    classifier = manifest.output.task == "classification"
    if classifier:
        body["return_probabilities"] = True
    answers = {}
    for runtime, server in servers.items():
        status, answer = call("POST", f"{server.url}/v1/predict", body)
        assert status == 200, answer
        answers[runtime] = answer
    onnx, native = answers["onnx"], answers["native"]
    assert len(onnx["predictions"]) == len(held_out)

    def close(value: float, expected: float) -> bool:
        return abs(value - expected) <= TOLERANCE["absolute"] + TOLERANCE["relative"] * abs(
            expected
        )

    if classifier:
        assert onnx["predictions"] == native["predictions"]
        for compiled, expected in zip(onnx["probabilities"], native["probabilities"], strict=True):
            assert compiled.keys() == expected.keys()
            assert all(close(compiled[key], expected[key]) for key in expected)
    else:
        pairs = zip(onnx["predictions"], native["predictions"], strict=True)
        assert all(close(value, expected) for value, expected in pairs)


def test_the_model_endpoint_the_log_and_the_metrics_name_the_runtime(
    servers: dict[str, Server], manifest: Manifest
) -> None:
    for runtime, server in servers.items():
        status, model = call("GET", f"{server.url}/v1/model")
        assert (status, model["runtime"]) == (200, runtime)
        status, _ = call(
            "POST", f"{server.url}/v1/predict", {"instances": [manifest.input_schema.example]}
        )
        assert status == 200
        assert scrape(server)[("model_runtime_info", (("runtime", runtime),))] == 1.0
        lines = [
            json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")
        ]
        requests = [line for line in lines if line.get("path") == "/v1/predict"]
        assert requests
        assert all(line["model_runtime"] == runtime for line in requests)


@pytest.mark.parametrize("runtime", ["onnx", "native"])
def test_a_tampered_artifact_stops_the_server_at_start(
    compiled: CompiledArtifact,
    runtime: str,
    project: ProjectConfig,
    models_dir: Path,
    manifest: Manifest,
    tmp_path: Path,
) -> None:
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    assert manifest.compiled is not None
    tampered = copy / (manifest.compiled.file if runtime == "onnx" else manifest.artifact.file)
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    process, server = start(project, copy, manifest, runtime, tmp_path / "server")
    try:
        process.wait(timeout=READY_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(process)
        pytest.fail(f"uWSGI served a tampered {tampered.name}:\n{server.log.read_text()[-3000:]}")
    assert process.returncode != 0
    assert f"{tampered}: SHA-256" in server.log.read_text()
    assert "does not match its manifest" in server.log.read_text()
