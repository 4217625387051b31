"""The prediction store against a real redis-server: batch writes, the API reads, and a
store that stops or stalls fails no request.

Needs ``redis-server`` (the OS package) and the project's ``store`` extra. Each server is
started on a free loopback port and stopped by its process id.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from falcon import testing

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.api.schemas import RequestSchema
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.settings import Settings
from {{ cookiecutter.__package_name }}.store import keys

from contract import CLASSIFIER, FEATURES, NUMBER, PROJECT, instances
from servers import LOOPBACK, free_port, require_uwsgi, uwsgi_environ

pytestmark = pytest.mark.store

ROWS = 20
ID = "_row"


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server on a free loopback port, nothing saved to disk; its URL and process."""
    redis = _redis()
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://{LOOPBACK}:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("redis-server did not answer within 10 s")
                time.sleep(0.05)
        client.close()
        yield url, process
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def store_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url


def _redis() -> Any:
    """The redis client (the store extra); importing it skips, not fails, the collection
    of other tests when it is absent."""
    return pytest.importorskip("redis", reason="the store extra is not installed")


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    client = _redis().Redis.from_url(store_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT.root)


def batch_into_store(tmp_path: Path, models_dir: Path, url: str, *extra: str) -> pd.DataFrame:
    """The first `ROWS` rows scored with ``--to url``: their output and the summary."""
    frame = pd.DataFrame(instances(ROWS), columns=[f.name for f in FEATURES])
    frame.insert(0, ID, [f"r{index}" for index in range(len(frame))])
    frame.to_csv(tmp_path / "rows.csv", index=False)
    output = tmp_path / "scores.parquet"
    arguments = ["predict-batch", str(tmp_path / "rows.csv"), str(output), "--to", url]
    code = cli.main([*arguments, "--models-dir", str(models_dir), "--json", *extra])
    assert code == 0
    return pd.read_parquet(output)


def row_key(manifest: Manifest, instance: dict[str, Any]) -> str:
    request = RequestSchema(manifest.input_schema, 10, classifier=False)
    features, _ = request.parse(json.dumps({"instances": [instance]}).encode())
    return keys.row_key(manifest.name, manifest.version, manifest.input_schema, features[0])


def test_a_batch_run_stores_each_prediction_by_row_and_id_with_its_ttl(
    tmp_path: Path,
    models_dir: Path,
    manifest: Manifest,
    store: Any,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scored = batch_into_store(tmp_path, models_dir, store_url, "--id-column", ID, "--ttl", "600")
    summary = json.loads(capsys.readouterr().out)
    assert summary["stored"] == 2 * len(scored)
    id_keys = sorted(k.decode() for k in store.scan_iter(f"{keys.PREFIX}:*:id:*"))
    assert id_keys == sorted(keys.id_key(manifest.name, manifest.version, i) for i in scored[ID])
    distinct_rows = {row_key(manifest, instance) for instance in instances(ROWS)}
    assert store.dbsize() == len(id_keys) + len(distinct_rows)
    for index, instance in enumerate(instances(ROWS)):
        by_row = json.loads(store.get(row_key(manifest, instance)))
        by_id = json.loads(store.get(keys.id_key(manifest.name, manifest.version, f"r{index}")))
        assert by_row == by_id
        assert str(by_row["prediction"]) == str(scored["prediction"][index])
        assert ("probabilities" in by_row) == CLASSIFIER
    assert 0 < store.ttl(id_keys[0]) <= 600


def test_the_api_answers_stored_rows_from_the_store_and_new_rows_from_the_model(
    tmp_path: Path,
    models_dir: Path,
    manifest: Manifest,
    settings: Settings,
    client: testing.TestClient,
    store: Any,
    store_url: str,
) -> None:
    scored = batch_into_store(tmp_path, models_dir, store_url)
    first, second = instances(2)
    # A marker only the store can give: row 0's stored answer replaced by another one.
    if CLASSIFIER:
        true_label = scored["prediction"][0]
        marker: Any = next(c for c in manifest.output.classes if str(c) != str(true_label))
    else:
        marker = 12345.5
    stored = json.loads(store.get(row_key(manifest, first)))
    store.set(row_key(manifest, first), json.dumps({**stored, "prediction": marker}))
    new = dict(first)
    new[NUMBER.name] = (first[NUMBER.name] or 0) + 0.123456789
    body = {"instances": [first, second, new]}
    with_store = testing.TestClient(create_app(settings.replace(prediction_store=store_url)))
    answer = with_store.simulate_post("/v1/predict", json=body)
    assert answer.status_code == 200, answer.json
    assert answer.json["from_store"] == [True, True, False]
    model_only = client.simulate_post("/v1/predict", json=body).json
    assert "from_store" not in model_only
    assert answer.json["predictions"] == [marker, *model_only["predictions"][1:]]
    metrics = with_store.simulate_get("/metrics").text
    assert 'prediction_store_lookups_total{result="hit"} 2.0' in metrics
    assert 'prediction_store_lookups_total{result="miss"} 1.0' in metrics


def test_the_cache_keeps_what_the_store_answered_and_asks_it_only_for_its_misses(
    tmp_path: Path, models_dir: Path, settings: Settings, store: Any, store_url: str
) -> None:
    """PREDICTION_CACHE in front of PREDICTION_STORE: the shared store is the second level."""
    batch_into_store(tmp_path, models_dir, store_url)
    first, second = instances(2)
    new = {**first, NUMBER.name: (first[NUMBER.name] or 0) + 0.123456789}
    both = settings.replace(prediction_store=store_url, prediction_cache=10)
    client = testing.TestClient(create_app(both))
    answers = [
        client.simulate_post("/v1/predict", json={"instances": [first, second, new]}).json
        for _ in range(2)
    ]
    assert answers[0]["from_store"] == [True, True, False]
    assert answers[1]["from_store"] == [False, False, False]  # all three from the cache
    assert answers[1]["predictions"] == answers[0]["predictions"]
    metrics = client.simulate_get("/metrics").text
    assert 'prediction_store_lookups_total{result="hit"} 2.0' in metrics
    assert 'prediction_store_lookups_total{result="miss"} 1.0' in metrics
    assert 'prediction_cache_lookups_total{result="hit"} 3.0' in metrics


def call(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_store_that_stalls_or_stops_mid_run_fails_no_request(
    tmp_path: Path, models_dir: Path, manifest: Manifest
) -> None:
    """Under a real uWSGI: answers from the store, then Redis frozen (SIGSTOP: every lookup
    times out), then Redis gone; every request is answered 200, errors are counted."""
    uwsgi = require_uwsgi()
    with redis_server() as (url, redis_process):
        batch_into_store(tmp_path, models_dir, url)
        port, stats_port = free_port(), free_port()
        metrics_dir = tmp_path / "metrics"
        metrics_dir.mkdir()
        environ = uwsgi_environ(models_dir, manifest, port, stats_port, metrics_dir)
        environ["PREDICTION_STORE"] = url
        log = tmp_path / "uwsgi.log"
        base = f"http://{LOOPBACK}:{port}"
        body = {"instances": instances(3)}
        with log.open("wb") as output:
            server = subprocess.Popen(
                [uwsgi, "--ini", str(PROJECT.root / "uwsgi.ini")],
                cwd=PROJECT.root,
                env=environ,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                statuses: list[int] = []
                phases: dict[str, list[list[bool]]] = {"up": [], "stalled": [], "stopped": []}
                deadline = time.monotonic() + 30
                while True:
                    try:
                        status, answer = call(f"{base}/v1/predict", body)
                        break
                    except OSError:
                        assert server.poll() is None, log.read_text()[-3000:]
                        assert time.monotonic() < deadline, log.read_text()[-3000:]
                        time.sleep(0.1)
                for phase in phases:
                    if phase == "stalled":
                        redis_process.send_signal(signal.SIGSTOP)
                    elif phase == "stopped":
                        redis_process.send_signal(signal.SIGCONT)
                        redis_process.terminate()
                        redis_process.wait(timeout=10)
                    for _ in range(30):
                        started = time.monotonic()
                        status, answer = call(f"{base}/v1/predict", body)
                        statuses.append(status)
                        assert time.monotonic() - started < 2.0, "a stalled store held a request"
                        phases[phase].append(answer.get("from_store", []))
                        time.sleep(0.05)  # each phase outlasts the store's cooldown
                with urllib_open(f"{base}/metrics") as text:
                    metrics = text
            finally:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
    assert statuses == [200] * len(statuses)
    assert all(flags == [True] * 3 for flags in phases["up"])
    assert all(flags == [False] * 3 for flags in phases["stalled"] + phases["stopped"])
    errors = [
        line for line in metrics.splitlines() if line.startswith("prediction_store_errors_total")
    ]
    assert errors
    assert float(errors[0].split()[-1]) >= 2  # at least one stall and one refusal


@contextlib.contextmanager
def urllib_open(url: str) -> Iterator[str]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:
        yield response.read().decode()
