"""`mlprod loadtest` for real: Locust's load over loopback against a tiny stub server.

Each run is the installed `mlprod` in its own process (Locust monkey-patches the
standard library of the process that imports it), bounded to a few seconds. The
stub (`loadtest_stub.py`) serves one request at a time and can stall once or fail
some requests, so what is asserted is behaviour that no speed of machine changes:
a stall of 0.5 s cannot make any latency shorter than the time spent waiting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from loadtest_stub import Behaviour, stub_server

# Real load runs of seconds each: they belong with the slow tier, not the fast one.
pytestmark = pytest.mark.slow

MLPROD = Path(sys.executable).parent / "mlprod"
SHORT = ["--duration", "2s", "--warmup", "0s"]


def mlprod_loadtest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MLPROD), "loadtest", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def figures(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_closed_loop_run_writes_its_figures_and_holds_its_thresholds(tmp_path: Path) -> None:
    out = tmp_path / "lt.json"
    with stub_server() as stub:
        result = mlprod_loadtest(
            "--host", stub.url, "--users", "2", "--duration", "2s", "--warmup", "1s",
            "--json", str(out), "--html", str(tmp_path / "lt.html"),
            "--max-error-rate", "0", "--max-p99-ms", "60000", "--min-rps", "1", cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "threshold" not in result.stderr
    doc = figures(out)
    assert doc["passed"] is True
    assert [check["passed"] for check in doc["thresholds"]] == [True, True, True]
    results = doc["results"]
    measured = [point for point in results["timeline"] if point["measured"]]
    assert [point["second"] for point in results["timeline"]] == [0, 1, 2]
    assert results["requests"] == sum(point["requests"] for point in measured) > 0
    assert results["errors"] == {}
    assert results["rps"] == results["requests"] / 2
    latency = results["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p99_9"]
    assert latency["p99_9"] <= latency["max"]
    (process,) = results["load_processes"]
    assert (process["users"], process["requests"]) == (2, results["requests"])
    assert process["cpu_mean_percent"] is not None
    # the bodies came from the schema the stub publishes at /v1/model, and they vary
    assert doc["payloads"]["source"].startswith("100 variations of the manifest's example")
    sent = {json.dumps(body, sort_keys=True) for body in stub.behaviour.bodies}
    assert len(sent) > 10
    assert all(
        set(body["instances"][0]) == {"size", "rooms", "city"} for body in stub.behaviour.bodies
    )
    assert "<svg" in (tmp_path / "lt.html").read_text()
    assert result.stdout.startswith(f"Load test of {stub.url}/v1/predict\n")
    assert "second   1:" in result.stderr  # live progress, one line a second


def test_keep_alive_sends_every_request_on_one_connection_and_the_default_one_each(
    tmp_path: Path,
) -> None:
    """Against a server that keeps connections: reused with --keep-alive, else one a request."""
    for options, reused in ((["--keep-alive"], True), ([], False)):
        out = tmp_path / "lt.json"
        with stub_server(Behaviour(keep_alive=True)) as stub:
            result = mlprod_loadtest(
                "--host", stub.url, "--users", "1", *options, *SHORT, "--json", str(out),
                cwd=tmp_path,
            )  # fmt: skip
        assert result.returncode == 0, result.stderr
        results = figures(out)["results"]
        assert results["errors"] == {}
        assert stub.behaviour.predicts >= results["requests"] > 10
        expected = 1 if reused else stub.behaviour.predicts
        assert len(stub.behaviour.predict_connections) == expected, options


def test_a_stall_shows_in_the_corrected_p99_of_an_open_loop_run(tmp_path: Path) -> None:
    """At 100 req/s, a 0.5 s stall delays the ~50 requests due meanwhile: about 1 in 6."""
    out = tmp_path / "lt.json"
    stall = Behaviour(stall_at=100, stall_seconds=0.5)
    with stub_server(stall) as stub:
        result = mlprod_loadtest(
            "--host", stub.url, "--rate", "100", "--duration", "3s", "--warmup", "0s",
            "--json", str(out), cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert stall.stalled_at is not None, "the stub never stalled"
    results = figures(out)["results"]
    assert results["latency_from"] == "intended send time"
    # requests due right as the stall began waited all of it
    assert results["latency_ms"]["p99"] >= 400
    # and a tenth of all requests were due during it and queued behind it
    assert results["latency_ms"]["p90"] >= 100
    assert results["target_rps"] == 100
    assert results["service_time_ms"] is not None


def test_a_server_that_goes_away_is_counted_in_errors_and_the_run_still_ends_on_time(
    tmp_path: Path,
) -> None:
    """Refused connections come back at once: the users must still let the run keep time."""
    out = tmp_path / "lt.json"
    with stub_server(Behaviour(stop_after=50)) as stub:
        result = mlprod_loadtest(
            "--host", stub.url, "--users", "2", "--duration", "3s", "--warmup", "0s",
            "--json", str(out), cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = figures(out)["results"]
    assert stub.behaviour.predicts == 50
    errors = results["errors"]
    assert sum(errors.values()) == results["requests"] - 50  # all but the answered ones
    # refused from the start; those waiting in its queue when it went were reset
    assert errors["ConnectionRefusedError"] > 0
    assert set(errors) <= {"ConnectionRefusedError", "ConnectionResetError"}
    assert [point["second"] for point in results["timeline"]] == [0, 1, 2]
    assert "second   2:" in result.stderr  # progress went on while the users failed


def test_breached_thresholds_exit_3_naming_each_breach(tmp_path: Path) -> None:
    failing = Behaviour(fail_every=4)
    with stub_server(failing) as stub:
        result = mlprod_loadtest(
            "--host", stub.url, "--users", "2", *SHORT, "--json", str(tmp_path / "lt.json"),
            "--max-error-rate", "0.1", "--max-p99-ms", "60000", "--min-rps", "1000000",
            cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 3, result.stderr
    doc = figures(tmp_path / "lt.json")
    errors = doc["results"]["errors"]
    assert list(errors) == ["HTTP 500"]
    assert abs(doc["results"]["error_rate"] - 0.25) < 0.05
    rps = doc["results"]["rps"]
    rate = doc["results"]["error_rate"]
    assert result.stderr.splitlines()[-2:] == [
        f"mlprod: threshold breached: error rate {rate:g} > --max-error-rate 0.1",
        f"mlprod: threshold breached: {rps:g} req/s < --min-rps 1e+06",
    ]
    assert [check["passed"] for check in doc["thresholds"]] == [True, False, False]
    assert doc["passed"] is False


def test_local_worker_processes_share_the_load_and_merge_their_histograms(
    tmp_path: Path,
) -> None:
    out = tmp_path / "lt.json"
    with stub_server() as stub:
        result = mlprod_loadtest(
            "--host", stub.url, "--users", "4", "--processes", "2", *SHORT,
            "--json", str(out), cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = figures(out)["results"]
    processes = results["load_processes"]
    assert len(processes) == 2
    assert [p["users"] for p in processes] == [2, 2]
    assert all(p["requests"] > 0 and p["cpu_mean_percent"] is not None for p in processes)
    assert sum(p["requests"] for p in processes) == results["requests"]
    assert stub.behaviour.predicts >= results["requests"]
