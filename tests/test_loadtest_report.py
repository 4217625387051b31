"""The load test's document, table, thresholds, warnings and HTML report."""

from __future__ import annotations

import json
import os
import re
from html import escape
from pathlib import Path
from typing import Any

import pytest

from mlprod_cli.loadtest import html, report
from mlprod_cli.loadtest.recording import Figures, LoadProcess, Percentiles, Point
from mlprod_cli.loadtest.settings import Options, Settings, Thresholds, from_options

TARGET = report.Target("http://127.0.0.1:8000", started=True, project=None, server_processes=2)
LATENCY = Percentiles(p50=0.412, p90=0.9, p99=2.5, p99_9=7.25, max=12.0, mean=0.6)


def settings(**options: Any) -> Settings:
    return from_options(Options(host="http://127.0.0.1:8000", **options))


def figures(**changes: Any) -> Figures:
    values: dict[str, Any] = {
        "requests": 1000,
        "errors": {"HTTP 503": 8, "timeout": 2},
        "error_rate": 0.01,
        "rps": 100.0,
        "latency": LATENCY,
        "service": None,
        "timeline": [
            Point(0, False, 90, 0, 0.5, 3.0, 4.0),
            Point(1, True, 100, 5, 0.4, 2.4, 12.0),
            Point(2, True, 0, 0, None, None, None),
        ],
        "processes": [LoadProcess("vm:1", 4, 1000, 35.0, 50.0)],
        "unfinished": 0,
        "unfinished_max_wait": None,
    }
    return Figures(**{**values, **changes})


def document(run: Settings | None = None, **changes: Any) -> dict[str, Any]:
    return report.document(run or settings(), TARGET, 150, "150 rows", figures(**changes))


def test_the_document_is_versioned_and_round_trips_through_json() -> None:
    doc = document()
    assert (doc["format"], doc["format_version"]) == ("mlprod-loadtest", 1)
    assert json.loads(report.to_json(doc)) == doc
    results = doc["results"]
    assert results["latency_ms"] == {
        "p50": 0.412,
        "p90": 0.9,
        "p99": 2.5,
        "p99_9": 7.25,
        "max": 12.0,
        "mean": 0.6,
    }
    assert (results["requests"], results["rps"], results["errors"]) == (
        1000,
        100.0,
        {"HTTP 503": 8, "timeout": 2},
    )
    assert results["timeline"][1] == {
        "second": 1,
        "measured": True,
        "requests": 100,
        "errors": 5,
        "p50_ms": 0.4,
        "p99_ms": 2.4,
        "max_ms": 12.0,
    }
    assert doc["target"]["url"] == "http://127.0.0.1:8000/v1/predict"
    assert doc["settings"]["mode"] == "closed"
    assert doc["environment"]["locust"] is not None
    assert doc["passed"] is True
    assert doc["warnings"] == []


@pytest.mark.parametrize(
    ("thresholds", "breaches"),
    [
        (Thresholds(max_p99_ms=2.5, max_error_rate=0.01, min_rps=100), []),
        (
            Thresholds(max_p99_ms=2.0),
            ["threshold breached: p99 2.5 ms > --max-p99-ms 2"],
        ),
        (
            Thresholds(max_error_rate=0.005),
            ["threshold breached: error rate 0.01 > --max-error-rate 0.005"],
        ),
        (
            Thresholds(min_rps=150),
            ["threshold breached: 100 req/s < --min-rps 150"],
        ),
    ],
)
def test_thresholds_hold_at_their_limit_and_breach_beyond(
    thresholds: Thresholds, breaches: list[str]
) -> None:
    doc = document(settings(thresholds=thresholds))
    assert report.breach_lines(doc) == breaches
    assert doc["passed"] is (not breaches)


def test_a_latency_threshold_with_no_response_is_breached() -> None:
    doc = document(settings(thresholds=Thresholds(max_p99_ms=5)), requests=0, latency=None)
    assert report.breach_lines(doc) == [
        "threshold breached: --max-p99-ms 5: no response was measured"
    ]


def test_an_open_loop_run_below_95_percent_of_its_rate_says_so() -> None:
    run = settings(rate=200.0)
    assert run.users == 10
    doc = document(run, rps=180.0)
    assert doc["results"]["achieved_ratio"] == 0.9
    assert doc["warnings"] == [
        "achieved 180.0 req/s, 90% of the 200 req/s asked for: the server (or the load "
        "generator) could not keep up; raise --users above 10 if the load processes were "
        "not busy"
    ]
    assert document(run, rps=190.0)["warnings"] == []


def test_a_saturated_load_process_is_named() -> None:
    doc = document(processes=[LoadProcess("vm:7", 4, 1000, 93.4, 99.0)])
    assert doc["warnings"] == [
        "load process vm:7 used 93% of a core on average: the figures may describe the "
        "load generator, not the server; add --processes (one per free core) or machines"
    ]


def test_requests_cut_off_with_keep_alive_point_at_connections_held_by_workers() -> None:
    doc = document(settings(keep_alive=True, users=4), unfinished=2, unfinished_max_wait=29.5)
    assert doc["warnings"] == [
        "2 request(s) still waited for an answer when the run stopped, the longest for "
        "29.5 s; they are in no percentile; with --keep-alive, a server whose workers each "
        "hold one connection (uWSGI's http11-socket) keeps users beyond its worker count "
        "waiting: drop --keep-alive or use fewer users"
    ]


def test_requests_cut_off_after_a_long_wait_are_warned_about() -> None:
    doc = document(unfinished=3, unfinished_max_wait=4.04)
    assert doc["results"]["unfinished"] == 3
    assert document(unfinished=1, unfinished_max_wait=0.2)["warnings"] == []
    assert doc["warnings"] == [
        "3 request(s) still waited for an answer when the run stopped, the longest for "
        "4.0 s; they are in no percentile"
    ]


def test_the_summary_table() -> None:
    lines = report.summary_lines(document(settings(users=4)))
    assert lines == [
        "Load test of http://127.0.0.1:8000/v1/predict",
        "closed loop, 4 users, 30 s measured after 5 s warm-up, 1 load process, "
        "a new connection per request",
        "",
        "  requests          1,000   errors 10 (1.00%)",
        "  throughput        100.0 req/s",
        "",
        "  latency (ms)                      p50      p90      p99    p99.9      max",
        "  response time                   0.412    0.900    2.500    7.250   12.000",
        "  error HTTP 503: 8",
        "  error timeout: 2",
        "",
        "  load process                  users   requests  cpu mean  cpu max",
        "  vm:1                              4      1,000       35%      50%",
        f"  load generator CPU: 0.35 of this machine's {os.cpu_count()} cores, 3,500 µs a "
        "request, taken from the server on the same machine",
    ]


def test_the_load_generators_cpu_is_named_in_cores_and_per_request() -> None:
    doc = document(
        processes=[
            LoadProcess("vm:1", 2, 600, 80.0, 95.0),
            LoadProcess("vm:2", 2, 400, 70.0, 90.0),
        ],
        rps=500.0,
    )
    # 0.8 + 0.7 cores for 500 answers a second: 3 ms of the load's CPU per answer
    assert doc["results"]["load_cpu"] == {
        "cores": 1.5,
        "cpu_per_request_us": 3000.0,
        "on_server_machine": True,
    }
    line = report.load_cpu_line(doc["results"]["load_cpu"], 2)
    assert line == (
        "load generator CPU: 1.50 of this machine's 2 cores, 3,000 µs a request, "
        "taken from the server on the same machine"
    )
    assert f"<p>{escape(line)}</p>" in html.render(doc)


@pytest.mark.parametrize(
    ("url", "on_server_machine"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://10.0.0.7:8000", False),
        ("http://scorer.internal:8000", False),
    ],
)
def test_the_load_cpu_says_whether_it_was_taken_from_the_servers_machine(
    url: str, on_server_machine: bool
) -> None:
    target = report.Target(url, started=False, project=None, server_processes=None)
    cpu = report.load_cpu(target, figures())
    assert cpu == {
        "cores": 0.35,
        "cpu_per_request_us": 3500.0,
        "on_server_machine": on_server_machine,
    }
    if not on_server_machine:
        assert report.load_cpu_line(cpu, 2) == (
            "load generator CPU: 0.35 cores, 3,500 µs a request (not on the server's machine)"
        )


def test_unsampled_load_processes_give_no_cpu_figure() -> None:
    doc = document(processes=[LoadProcess("vm:1", 4, 1000, None, None)], rps=0.0)
    assert doc["results"]["load_cpu"] is None
    assert report.load_cpu_line(None, 2) == ""
    assert not any("load generator CPU" in line for line in report.summary_lines(doc))


def test_the_open_loop_table_shows_corrected_and_uncorrected_latency() -> None:
    doc = document(settings(rate=100.0), service=Percentiles(0.3, 0.5, 1.0, 2.0, 3.0, 0.4))
    lines = report.summary_lines(doc)
    assert "  throughput        100.0 req/s   target 100 req/s (100.0% achieved)" in lines
    assert "  from intended send              0.412    0.900    2.500    7.250   12.000" in lines
    assert "  from actual send (uncorr.)      0.300    0.500    1.000    2.000    3.000" in lines


def test_the_html_report_is_one_self_contained_page() -> None:
    page = html.render(document(settings(thresholds=Thresholds(max_p99_ms=2.0))))
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2
    assert "<polyline" in page
    assert "warm-up" in page
    assert "breached" in page
    assert "HTTP 503" in page
    for external in ("<script", "<link", "src=", "href=", "url(", "@import", "http://w"):
        assert external not in page


def test_outputs_are_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "lt.json"
    report.write_text(target, "{}\n")
    assert target.read_text() == "{}\n"
    assert [path.name for path in tmp_path.iterdir()] == ["lt.json"]


def test_timeline_in_the_html_follows_the_seconds() -> None:
    page = html.render(document())
    throughput = page.split("Throughput over time")[1]
    (points,) = re.findall(r'<polyline points="([^"]+)"', throughput)
    assert len(points.split()) == 3
