"""HDR recording in each load process, and exact merging on the master."""

from __future__ import annotations

import pytest

from mlprod_cli.loadtest.recording import Aggregate, Recorder


def recorder(origin: float = 100.0) -> Recorder:
    r = Recorder()
    r.start(origin)
    return r


def test_percentiles_keep_microseconds_where_locust_rounds_to_milliseconds() -> None:
    r = recorder()
    for micros in (412, 413, 415, 1_234):
        r.record(100.5, micros / 1e6, None, None)
    aggregate = Aggregate()
    aggregate.add("a", r.drain())
    latency = aggregate.figures(0, 1).latency
    assert latency is not None
    assert (latency.p50, latency.max) == (0.413, 1.234)


def test_merging_two_processes_equals_recording_everything_in_one() -> None:
    one, two, both = recorder(), recorder(), recorder()
    for i in range(1, 2001):
        target = one if i % 3 else two
        for r in (target, both):
            r.record(100.0 + (i % 4) + 0.5, i / 1e5, None, "HTTP 500" if i % 100 == 0 else None)
    merged, single = Aggregate(), Aggregate()
    merged.add("one", one.drain())
    merged.add("two", two.drain())
    single.add("all", both.drain())
    a, b = merged.figures(0, 4), single.figures(0, 4)
    assert a.latency == b.latency
    assert (a.requests, a.errors, a.rps) == (2000, {"HTTP 500": 20}, 500.0)
    assert a.error_rate == pytest.approx(0.01)
    assert [p.requests for p in a.timeline] == [p.requests for p in b.timeline]
    assert {p.name: p.requests for p in a.processes} == {"one": 1334, "two": 666}


def test_the_warmup_is_on_the_timeline_but_in_no_figure() -> None:
    r = recorder()
    r.record(100.5, 5.0, None, "timeout")  # second 0: warm-up
    for _ in range(10):
        r.record(101.5, 0.001, None, None)  # second 1: measured
    aggregate = Aggregate()
    aggregate.add("a", r.drain())
    figures = aggregate.figures(warmup=1, duration=2)
    assert (figures.requests, figures.errors, figures.rps) == (10, {}, 5.0)
    assert figures.latency is not None and figures.latency.max == 1.0
    assert [(p.second, p.measured, p.requests) for p in figures.timeline] == [
        (0, False, 1),
        (1, True, 10),
        (2, True, 0),
    ]


def test_open_loop_keeps_the_uncorrected_service_time_beside_the_latency() -> None:
    r = recorder()
    r.record(100.5, 0.5, 0.002, None)
    aggregate = Aggregate()
    aggregate.add("a", r.drain())
    figures = aggregate.figures(0, 1)
    # three significant digits: within 0.1% above 2 ms, to the microsecond below
    assert figures.latency is not None
    assert figures.latency.p50 == pytest.approx(500.0, rel=1e-3)
    assert figures.service is not None and figures.service.p50 == 2.0


def test_drain_hands_over_each_response_once() -> None:
    r = recorder()
    r.record(100.5, 0.001, None, None)
    aggregate = Aggregate()
    aggregate.add("a", r.drain())
    aggregate.add("a", r.drain())
    r.record(100.7, 0.001, None, None)
    aggregate.add("a", r.drain())
    assert aggregate.figures(0, 1).requests == 2


def test_nothing_is_recorded_before_the_start() -> None:
    r = Recorder()
    r.record(5.0, 0.001, None, None)
    r.sample_cpu(50.0)
    r.unfinished(2.0)
    assert r.drain() == {"seconds": [], "cpu": [], "unfinished": []}


def test_each_load_process_reports_users_cpu_and_unfinished_requests() -> None:
    r = recorder(origin=0.0)
    r.record(0.5, 0.001, None, None)
    r.unfinished(2.5)
    r.unfinished(0.1)
    chunk = r.drain()
    chunk["cpu"] = [[0, 40.0], [1, 90.0], [2, 70.0]]
    aggregate = Aggregate()
    aggregate.join("host:1", 3)
    aggregate.join("host:1", 0)  # a last report after the users stopped
    aggregate.add("host:1", chunk)
    figures = aggregate.figures(warmup=1, duration=2)
    (process,) = figures.processes
    assert (process.users, process.cpu_mean, process.cpu_max) == (3, 80.0, 90.0)
    assert (figures.unfinished, figures.unfinished_max_wait) == (2, 2.5)


def test_no_response_means_no_percentiles() -> None:
    figures = Aggregate().figures(0, 3)
    assert (figures.requests, figures.rps, figures.latency, figures.error_rate) == (
        0,
        0.0,
        None,
        0.0,
    )
