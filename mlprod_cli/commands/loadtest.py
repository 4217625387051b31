"""`mlprod loadtest`: the project's server under load from Locust, with honest percentiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlprod_cli import console
from mlprod_cli.commands.options import ProjectOption, option


def loadtest(
    project_dir: ProjectOption = None,
    host: Annotated[
        str | None,
        option(
            metavar="URL",
            help="Load this running server (base URL) instead of starting the project's own.",
        ),
    ] = None,
    users: Annotated[
        int | None,
        option(
            help="Closed loop: concurrent users, each sending as soon as its answer arrives "
            "(default 4). With --rate: the users sharing the schedule.",
        ),
    ] = None,
    rate: Annotated[
        float | None,
        option(help="Open loop: requests per second, latency from each intended send time."),
    ] = None,
    duration: Annotated[str, option(help="Time measured: 30s, 2m, 1m30s. [default: 30s]")] = "30s",
    warmup: Annotated[
        str, option(help="Load before measuring starts (not counted). [default: 5s]")
    ] = "5s",
    processes: Annotated[
        int,
        option(help="Local Locust worker processes (one per free core is the rule). [default: 1]"),
    ] = 1,
    master: Annotated[
        bool, option("--master", help="Coordinate `--worker`s on other machines (needs --host).")
    ] = False,
    worker: Annotated[
        bool, option("--worker", help="Generate load for a --master (needs --master-host).")
    ] = False,
    master_host: Annotated[str | None, option(help="The --master's address, for --worker.")] = None,
    master_port: Annotated[
        int, option(help="Port the master listens on for workers. [default: 5557]")
    ] = 5557,
    expect_workers: Annotated[
        int | None,
        option(help="With --master: workers to wait for before starting (default 1)."),
    ] = None,
    keep_alive: Annotated[
        bool,
        option(
            "--keep-alive",
            help="Reuse connections (default: a new one per request; see the docs on uWSGI).",
        ),
    ] = False,
    payload: Annotated[
        Path | None,
        option(
            help="JSON file: a request body, or a list of them (default: built from the "
            "model's input schema and training data).",
        ),
    ] = None,
    json_path: Annotated[
        Path | None, option("--json", help="Write every figure here as a versioned JSON document.")
    ] = None,
    html_path: Annotated[
        Path | None, option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    max_p99_ms: Annotated[float | None, option(help="Fail (exit 3) when p99 exceeds this.")] = None,
    max_error_rate: Annotated[
        float | None,
        option(help="Fail (exit 3) when errors exceed this fraction (0.01 is 1%)."),
    ] = None,
    min_rps: Annotated[
        float | None, option(help="Fail (exit 3) below this many requests per second.")
    ] = None,
) -> None:
    """Put the project's server under load and report latency percentiles and throughput.

    Without --host, the project's own server is started from its environment and
    uwsgi.ini on a free loopback port, and stopped afterwards. Exit codes: 0 done,
    1 tool error, 2 usage error, 3 a threshold was breached.
    """
    from mlprod_cli.loadtest import run
    from mlprod_cli.loadtest import settings as checks

    doc = run.load(
        checks.Options(
            project_dir=project_dir, host=host, users=users, rate=rate, duration=duration,
            warmup=warmup, processes=processes, master=master, worker=worker,
            master_host=master_host, master_port=master_port, expect_workers=expect_workers,
            keep_alive=keep_alive, payload=payload, json_path=json_path, html_path=html_path,
            thresholds=checks.Thresholds(max_p99_ms, max_error_rate, min_rps),
        ),
        say=console.say,
    )  # fmt: skip
    if doc is not None:
        _report(doc)


def _report(doc: dict[str, Any]) -> None:
    from mlprod_cli.loadtest import report

    for line in report.summary_lines(doc):
        typer.echo(line)
    for warning in doc["warnings"]:
        console.warn(warning)
    breaches = report.breach_lines(doc)
    for line in breaches:
        typer.echo(console.error_line(line), err=True)
    if breaches:
        raise typer.Exit(report.THRESHOLD_EXIT_CODE)
