"""Micro-batching and the prediction cache under real uWSGI, over real HTTP.

Each test starts its own uWSGI from uwsgi.ini on a free loopback port and stops it by its
pid. A model call is made slow (`slow_worker`, imported into each worker) so that
concurrent requests meet in the worker, as they do with a large ensemble.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.api.schemas import RequestSchema
from {{ cookiecutter.__package_name }}.model.manifest import read_manifest
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig

from contract import CLASSIFIER, DATASET, instance
from servers import LOOPBACK, free_port, require_uwsgi, uwsgi_environ

# The serving layer, whatever the model: the gates run these for the default combination
# only (see docs/development.md); `pytest -m 'not serving'` leaves them out.
pytestmark = pytest.mark.serving

READY_TIMEOUT = 60.0
TESTS = Path(__file__).parent


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    stats_port: int
    log: Path

    def workers(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.stats_port}", timeout=5) as answer:
            return json.loads(answer.read())["workers"]

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def log_lines(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@contextmanager
def serving(
    models_dir: Path,
    manifest: Manifest,
    project: ProjectConfig,
    tmp_path: Path,
    settings: Mapping[str, str],
    processes: int = 2,
) -> Iterator[Server]:
    """uWSGI serving `manifest`'s model with `settings`, every model call slowed down."""
    uwsgi = require_uwsgi()
    port, stats_port = free_port(), free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    environ = uwsgi_environ(models_dir, manifest, port, stats_port, metrics_dir) | {
        "UWSGI_PROCESSES": str(processes),
        "PYTHONPATH": str(TESTS),
        "UWSGI_IMPORT": "slow_worker",
        "RECYCLE_REQUESTS": "1000000",
        **settings,
    }
    log = tmp_path / "uwsgi.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [uwsgi, "--ini", str(project.root / "uwsgi.ini")],
            cwd=project.root,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, stats_port, log)
    try:
        wait_until_all_accept(server, processes)
        yield server
    finally:
        process.terminate()  # die-on-term: SIGTERM stops uWSGI
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_all_accept(server: Server, processes: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"uWSGI exited with {server.process.returncode}:\n{server.tail()}")
        try:
            workers = server.workers()
        except OSError:
            workers = []
        if len(workers) == processes and all(w["accepting"] and w["pid"] > 0 for w in workers):
            return
        time.sleep(0.2)
    pytest.fail(f"the workers did not all accept within {READY_TIMEOUT:.0f} s:\n{server.tail()}")


def post(
    connection: http.client.HTTPConnection, body: dict[str, Any]
) -> tuple[int, dict[str, str], Any]:
    connection.request(
        "POST", "/v1/predict", json.dumps(body), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return response.status, headers, json.loads(response.read())


def in_parallel(clients: int, work: Any) -> list[Any]:
    """Run ``work(client_number)`` in `clients` threads at once; their results, in order."""
    results: list[Any] = [None] * clients
    failures: list[BaseException] = []
    start = threading.Barrier(clients)

    def run(number: int) -> None:
        try:
            start.wait(timeout=30)
            results[number] = work(number)
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    return results


def same(expected: list[Any]) -> Any:
    """Labels exactly; numbers as computed, but for the last bits: the rows of a batched call
    go through the model's matrix products together, and BLAS picks its kernels by shape."""
    if CLASSIFIER:
        return expected
    return pytest.approx(expected, rel=1e-9, abs=1e-12)


def same_probabilities(answered: list[dict[str, float]], expected: list[list[float]]) -> None:
    """Each row's probabilities, class by class, compared as `same` compares numbers."""
    assert [len(row) for row in answered] == [len(row) for row in expected]
    flat = [value for row in answered for value in row.values()]
    assert flat == pytest.approx([value for row in expected for value in row], rel=1e-9, abs=1e-12)


def model_answers(
    model: Predictor, manifest: Manifest, rows: list[dict[str, Any]], probabilities: bool
) -> tuple[list[Any], list[list[float]] | None]:
    """What the model answers for `rows` predicted on their own (the unbatched answer),
    the rows validated as the API validates them."""
    schema = RequestSchema(manifest.input_schema, 1000, CLASSIFIER)
    matrix, _ = schema.parse(json.dumps({"instances": rows}).encode())
    predictions = model.predict(matrix).tolist()
    if not probabilities:
        return predictions, None
    return predictions, model.predict_proba(matrix).tolist()


def test_batched_answers_equal_unbatched_answers_row_for_row_under_16_clients(
    models_dir: Path, manifest: Manifest, project: ProjectConfig, tmp_path: Path
) -> None:
    """16 clients, each sending requests of one to three rows of the data (some asking for
    probabilities): each gets exactly its own rows' answers, as the model gives them to
    those rows alone, while the model's calls are shared."""
    model = Predictor.load(models_dir / manifest.artifact.file)
    rows = len(DATASET.y)
    settings = {"BATCH_MAX_SIZE": "32", "MODEL_RUNTIME": "native", "SLOW_MODEL_SECONDS": "0.02"}
    with serving(models_dir, manifest, project, tmp_path, settings) as server:

        def client(number: int) -> list[tuple[list[dict[str, Any]], bool, int, Any]]:
            connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=30)
            seen = []
            for request in range(8):
                first = (number * 8 + request) * 3 % rows
                sent = [instance((first + offset) % rows) for offset in range(request % 3 + 1)]
                probabilities = CLASSIFIER and request % 2 == 0
                body: dict[str, Any] = {"instances": sent}
                if probabilities:
                    body["return_probabilities"] = True
                status, _, answer = post(connection, body)
                seen.append((sent, probabilities, status, answer))
            connection.close()
            return seen

        answered = [item for seen in in_parallel(16, client) for item in seen]
        sizes = server.metrics()
    assert len(answered) == 16 * 8
    classes = [str(label) for label in manifest.output.classes]
    for sent, probabilities, status, answer in answered:
        assert status == 200, answer
        predictions, probability_rows = model_answers(model, manifest, sent, probabilities)
        assert answer["predictions"] == same(predictions)
        if probability_rows is not None:
            assert list(answer["probabilities"][0]) == classes
            same_probabilities(answer["probabilities"], probability_rows)
    calls = sizes[("model_batch_requests_count", ())]
    alone = sizes[("model_batch_requests_bucket", (("le", "1.0"),))]
    assert calls - alone > 0, "no two requests ever shared a model call: nothing was batched"
    assert calls < 16 * 8, "as many model calls as requests: nothing was batched"


def test_a_request_that_waits_past_its_budget_gets_a_503_not_a_hang(
    models_dir: Path, manifest: Manifest, project: ProjectConfig, tmp_path: Path
) -> None:
    """One worker whose model takes 0.3 s a call, one row a call, a budget of 150 ms: of
    six requests sent at once, those still waiting when their budget ends are answered
    503 `overloaded` in the JSON error shape, at once, with Retry-After; none hangs."""
    settings = {
        "BATCH_MAX_SIZE": "1",
        "BATCH_TIMEOUT_MS": "150",
        "SLOW_MODEL_SECONDS": "0.3",
    }
    body = {"instances": [instance(0)]}
    with serving(models_dir, manifest, project, tmp_path, settings, processes=1) as server:

        def client(number: int) -> tuple[int, dict[str, str], Any, float]:
            connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=30)
            started = time.monotonic()
            status, headers, answer = post(connection, body)
            connection.close()
            return status, headers, answer, time.monotonic() - started

        answers = in_parallel(6, client)
        counted = server.metrics()[("model_batch_overloaded_total", ())]
        # the worker is free again: a request alone is answered
        connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=30)
        assert post(connection, body)[0] == 200
        connection.close()
        logged = [line for line in server.log_lines() if line.get("status") == 503]
    statuses = sorted(status for status, *_ in answers)
    assert set(statuses) == {200, 503}, statuses
    refused = [
        (headers, answer, took) for status, headers, answer, took in answers if status == 503
    ]
    for headers, answer, took in refused:
        assert answer["error"]["code"] == "overloaded"
        assert "BATCH_TIMEOUT_MS" in answer["error"]["message"]
        assert answer["error"]["request_id"]
        assert headers["retry-after"] == "1"
        # at most the one call it waited behind and its own budget, not six calls
        assert took < 5.0
    assert counted == len(refused)
    assert len(logged) == len(refused)


def test_the_cache_never_answers_for_another_version_across_a_serve_version_switch(
    two_versions: Path, project: ProjectConfig, tmp_path: Path
) -> None:
    """Four clients repeat three instances (cache hits) asking for probabilities while
    `serve-version` switches the server from 0.1.0 to 0.2.0: every answer is the answer of
    the version it names, none fails, and once the switch is done every answer is 0.2.0's."""
    models_dir = Path(shutil.copytree(two_versions, tmp_path / "models"))
    old = read_manifest(models_dir / f"{project.model_name}-0.1.0.json")
    new = read_manifest(models_dir / f"{project.model_name}-0.2.0.json")
    sent = [instance(row) for row in (0, 60, 120)]
    expected = {
        manifest.version: model_answers(
            Predictor.load(models_dir / manifest.artifact.file), manifest, sent, CLASSIFIER
        )
        for manifest in (old, new)
    }
    assert expected[old.version] != expected[new.version], "the versions answer alike"
    settings = {
        "PREDICTION_CACHE": "100",
        "BATCH_MAX_SIZE": "16",
        "MODEL_RUNTIME": "native",
        "SLOW_MODEL_SECONDS": "0.002",
    }
    stop = threading.Event()
    body: dict[str, Any] = {"instances": sent}
    if CLASSIFIER:
        body["return_probabilities"] = True
    with serving(models_dir, old, project, tmp_path, settings) as server:

        def client(number: int) -> list[tuple[float, int, Any]]:
            connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=30)
            seen = []
            while not stop.is_set():
                sent_at = time.monotonic()
                try:
                    status, _, answer = post(connection, body)
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    status, answer = 0, repr(error)
                seen.append((sent_at, status, answer))
            connection.close()
            return seen

        results: list[list[tuple[float, int, Any]]] = []
        load = threading.Thread(target=lambda: results.extend(in_parallel(4, client)))
        load.start()
        time.sleep(1.0)
        before = {worker["pid"] for worker in server.workers()}
        assert cli.main(["serve-version", new.version, "--models-dir", str(models_dir)]) == 0
        deadline = time.monotonic() + READY_TIMEOUT
        while before & {worker["pid"] for worker in server.workers()}:
            assert time.monotonic() < deadline, f"the workers were not replaced:\n{server.tail()}"
            time.sleep(0.2)
        wait_until_all_accept(server, 2)
        switched_at = time.monotonic()
        time.sleep(1.0)
        stop.set()
        load.join(timeout=60)
        counted = server.metrics()
    answers = [item for seen in results for item in seen]
    failures = [answer for _, status, answer in answers if status != 200]
    assert failures == [], failures[:3]
    for _, _, answer in answers:
        predictions, probabilities = expected[answer["model"]["version"]]
        assert answer["predictions"] == same(predictions)
        if probabilities is not None:
            same_probabilities(answer["probabilities"], probabilities)
    versions = [answer["model"]["version"] for _, _, answer in sorted(answers, key=lambda a: a[0])]
    assert versions[0] == old.version
    after = [answer for sent_at, _, answer in answers if sent_at > switched_at]
    assert after, "no request was sent after the switch"
    assert {answer["model"]["version"] for answer in after} == {new.version}
    assert counted[("prediction_cache_lookups_total", (("result", "hit"),))] > 0
