"""`mlprod loadtest`: the project's server under load from Locust, with honest percentiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlprod_cli.commands.options import ProjectOption
from mlprod_cli.errors import UserError, reported

EXTRA_HINT = "pip install 'mlprod[loadtest]'"


def loadtest(
    project_dir: ProjectOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            metavar="URL",
            help="Load this running server (base URL) instead of starting the project's own.",
            show_default=False,
        ),
    ] = None,
    users: Annotated[
        int | None,
        typer.Option(
            "--users",
            help="Closed loop: concurrent users, each sending as soon as its answer arrives "
            "(default 4). With --rate: the users sharing the schedule.",
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            help="Open loop: requests per second, latency from each intended send time.",
            show_default=False,
        ),
    ] = None,
    duration: Annotated[
        str, typer.Option("--duration", help="Time measured: 30s, 2m, 1m30s.")
    ] = "30s",
    warmup: Annotated[
        str, typer.Option("--warmup", help="Load before measuring starts (not counted).")
    ] = "5s",
    processes: Annotated[
        int,
        typer.Option(
            "--processes", help="Local Locust worker processes (one per free core is the rule)."
        ),
    ] = 1,
    master: Annotated[
        bool,
        typer.Option("--master", help="Coordinate `--worker`s on other machines (needs --host)."),
    ] = False,
    worker: Annotated[
        bool,
        typer.Option("--worker", help="Generate load for a --master (needs --master-host)."),
    ] = False,
    master_host: Annotated[
        str | None,
        typer.Option(
            "--master-host", help="The --master's address, for --worker.", show_default=False
        ),
    ] = None,
    master_port: Annotated[
        int, typer.Option("--master-port", help="Port the master listens on for workers.")
    ] = 5557,
    expect_workers: Annotated[
        int | None,
        typer.Option(
            "--expect-workers",
            help="With --master: workers to wait for before starting (default 1).",
            show_default=False,
        ),
    ] = None,
    keep_alive: Annotated[
        bool,
        typer.Option(
            "--keep-alive",
            help="Reuse connections (default: a new one per request; see the docs on uWSGI).",
        ),
    ] = False,
    payload: Annotated[
        Path | None,
        typer.Option(
            "--payload",
            help="JSON file: a request body, or a list of them (default: built from the "
            "model's input schema and training data).",
            show_default=False,
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write every figure here as a versioned JSON document.",
            show_default=False,
        ),
    ] = None,
    html_path: Annotated[
        Path | None,
        typer.Option("--html", help="Write a self-contained HTML report here.", show_default=False),
    ] = None,
    max_p99_ms: Annotated[
        float | None,
        typer.Option(
            "--max-p99-ms", help="Fail (exit 3) when p99 exceeds this.", show_default=False
        ),
    ] = None,
    max_error_rate: Annotated[
        float | None,
        typer.Option(
            "--max-error-rate",
            help="Fail (exit 3) when errors exceed this fraction (0.01 is 1%).",
            show_default=False,
        ),
    ] = None,
    min_rps: Annotated[
        float | None,
        typer.Option(
            "--min-rps",
            help="Fail (exit 3) below this many requests per second.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Put the project's server under load and report latency percentiles and throughput.

    Without --host, the project's own server is started from its environment and
    uwsgi.ini on a free loopback port, and stopped afterwards. Exit codes: 0 done,
    1 tool error, 2 usage error, 3 a threshold was breached.
    """
    from mlprod_cli.loadtest import settings as checks

    options = checks.Options(
        project_dir=project_dir,
        host=host,
        users=users,
        rate=rate,
        duration=duration,
        warmup=warmup,
        processes=processes,
        master=master,
        worker=worker,
        master_host=master_host,
        master_port=master_port,
        expect_workers=expect_workers,
        keep_alive=keep_alive,
        payload=payload,
        json_path=json_path,
        html_path=html_path,
        thresholds=checks.Thresholds(max_p99_ms, max_error_rate, min_rps),
    )
    from mlprod_cli.loadtest import run

    with reported():
        if worker:
            master_at = checks.worker_target(options)
            _require_engine()
            run.work(*master_at, say=_say)
            return
        settings = checks.from_options(options)
        _require_engine()
        prepared = run.prepare(settings)
        doc = run.execute(prepared, say=_say, progress=lambda tick: _say(run.progress_line(tick)))
    _report(doc)


def _require_engine() -> None:
    """Locust and hdrhistogram come with the `loadtest` extra: say so, rather than a traceback."""
    from importlib.util import find_spec

    missing = [
        name
        for name, module in (("locust", "locust"), ("hdrhistogram", "hdrh"))
        if find_spec(module) is None
    ]
    if missing:
        raise UserError(f"mlprod loadtest needs {' and '.join(missing)}: {EXTRA_HINT}")


def _say(line: str) -> None:
    typer.echo(line, err=True)


def _report(doc: dict[str, Any]) -> None:
    from mlprod_cli.loadtest import report

    for line in report.summary_lines(doc):
        typer.echo(line)
    for warning in doc["warnings"]:
        typer.echo(f"mlprod: warning: {warning}", err=True)
    breaches = report.breach_lines(doc)
    for line in breaches:
        typer.echo(f"mlprod: {line}", err=True)
    if breaches:
        raise typer.Exit(report.THRESHOLD_EXIT_CODE)
