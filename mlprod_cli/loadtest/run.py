"""One load test from start to end: target server, payloads, Locust, figures, files.

Locust is imported first thing in `execute` and `work`, before any socket or `ssl`
exists, because it monkey-patches the standard library through gevent as it loads.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlprod_cli.errors import UserError
from mlprod_cli.loadtest.settings import Options, Settings
from mlprod_cli.project import environment

if TYPE_CHECKING:
    from mlprod_cli.loadtest.engine import Tick
    from mlprod_cli.loadtest.payloads import Payloads
    from mlprod_cli.loadtest.report import Target
    from mlprod_cli.project import Project

CONNECT_TIMEOUT = 5.0
SERVER_READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Prepared:
    """What a run needs that can be checked before Locust is imported or a server started."""

    settings: Settings
    project: Project | None
    uwsgi: Path | None
    """The project's uWSGI, when mlprod is to start the server."""
    own_payloads: Payloads | None
    """From --payload, when given."""


def prepare(settings: Settings) -> Prepared:
    """Find the project, its uWSGI, the --payload bodies, the --host: mistakes before any work.

    Nothing here imports Locust: the one socket it opens (to see that --host answers)
    is closed before Locust patches the standard library.
    """
    from mlprod_cli.loadtest import payloads

    project = _project(settings)
    uwsgi = None
    if settings.host is None:
        assert project is not None  # _project finds one or raises when there is no --host
        uwsgi = environment.venv_python(project.root / ".venv").parent / "uwsgi"
        if not uwsgi.is_file():
            raise UserError(
                f"no uWSGI in the project's environment ({uwsgi}); install the project there "
                f"with its api extra (`uv pip install -e '.[api]'` in {project.root}), "
                "or pass --host URL"
            )
    own = payloads.from_file(settings.payload) if settings.payload is not None else None
    if settings.host is not None:
        _check_reachable(settings.host)
    return Prepared(settings, project, uwsgi, own)


def execute(
    prepared: Prepared, say: Callable[[str], None], progress: Callable[[Tick], None]
) -> dict[str, Any]:
    """Run the load test; return the JSON document (files written when asked for)."""
    # Locust, and its monkey-patching, first: `engine` before anything that opens sockets.
    from mlprod_cli.loadtest import engine, html, report

    settings, project = prepared.settings, prepared.project
    with _target(prepared, say) as target:
        chosen = prepared.own_payloads or _from_server(target.url, project)
        plan = engine.Plan(
            url=target.url,
            users=settings.users,
            rate=settings.rate,
            keep_alive=settings.keep_alive,
            bodies=chosen.bodies,
        )
        say(f"payloads: {chosen.source}")
        if settings.distributed:
            aggregate = engine.run_master(
                plan,
                settings.warmup,
                settings.duration,
                bind_host="*" if settings.master else "127.0.0.1",
                port=settings.master_port if settings.master else _free_port(),
                local_workers=settings.local_workers,
                expect_workers=settings.expect_workers,
                progress=progress,
                waiting=lambda n, total: say(f"waiting for workers: {n} of {total} connected"),
            )
        else:
            aggregate = engine.run_local(plan, settings.warmup, settings.duration, progress)
    figures = aggregate.figures(settings.warmup, settings.duration)
    doc = report.document(settings, target, len(chosen.bodies), chosen.source, figures)
    if settings.json_path is not None:
        report.write_text(settings.json_path, report.to_json(doc))
    if settings.html_path is not None:
        report.write_text(settings.html_path, html.render(doc))
    return doc


def work(master_host: str, port: int, say: Callable[[str], None]) -> None:
    """`--worker`: generate load for a master until it is done."""
    from mlprod_cli.loadtest import engine  # Locust, and its monkey-patching, first

    engine.run_worker(master_host, port, say)


def progress_line(tick: Tick) -> str:
    """One live line: a recent second's throughput, latency, errors and load CPU."""
    phase = "" if tick.measured else " warm-up"
    head = f"  [{tick.elapsed:>3}/{tick.total}s] second {tick.point_second:>3}{phase}:"
    if tick.p50 is None or tick.p99 is None:
        body = f" {tick.requests} responses"
    else:
        body = (
            f" {tick.requests:,} req/s, p50 {tick.p50:.3f} ms, p99 {tick.p99:.3f} ms, "
            f"errors {tick.errors}"
        )
    cpu = ", ".join(f"{value:.0f}%" for _, value in sorted(tick.cpu.items()))
    return head + body + (f", load cpu {cpu}" if cpu else "")


def _project(settings: Settings) -> Project | None:
    """The project: required to start its server, optional (for its data) with --host."""
    from mlprod_cli.project import NotAProject, resolve_project

    if settings.project_dir is not None or settings.host is None:
        return resolve_project(settings.project_dir)
    try:
        return resolve_project(None)
    except NotAProject:
        return None


@contextmanager
def _target(prepared: Prepared, say: Callable[[str], None]) -> Iterator[Target]:
    """The server under load: `--host`, or the project's own, started here and stopped after."""
    from mlprod_cli.loadtest.report import Target
    from mlprod_cli.project import server

    settings, project = prepared.settings, prepared.project
    if settings.host is not None:
        root = project.root if project is not None else None
        yield Target(settings.host, started=False, project=root, server_processes=None)
        return
    assert project is not None and prepared.uwsgi is not None  # see prepare()
    processes = _server_processes()
    with server.running(project.root, prepared.uwsgi, timeout=SERVER_READY_TIMEOUT) as url:
        say(f"started {project.slug}'s server (uWSGI, {processes} worker processes) at {url}")
        try:
            yield Target(url, started=True, project=project.root, server_processes=processes)
        finally:
            say("stopping the server")


def _server_processes() -> int:
    """uWSGI's worker count: UWSGI_PROCESSES when set, else one per core (uwsgi.ini's `%k`)."""
    value = os.environ.get("UWSGI_PROCESSES", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else os.cpu_count() or 1


def _from_server(url: str, project: Project | None) -> Payloads:
    """Bodies built from the manifest the server publishes at /v1/model."""
    from mlprod_cli.loadtest import payloads
    from mlprod_cli.project import server

    try:
        answer = server.request("GET", f"{url}/v1/model", timeout=CONNECT_TIMEOUT)
    except OSError as error:
        raise UserError(f"cannot read {url}/v1/model: {error}") from None
    if answer.status != 200 or not isinstance(answer.body, dict):
        raise UserError(
            f"cannot read the served model's input schema: GET {url}/v1/model answered "
            f"HTTP {answer.status}; pass --payload FILE with request bodies"
        )
    return payloads.from_manifest(answer.body, project)


def _check_reachable(url: str) -> None:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise UserError(f"cannot connect to --host {url}: {reason}") from None


def _free_port() -> int:
    from mlprod_cli.project.server import free_port

    return free_port()


EXTRA_HINT = "pip install 'mlprod[loadtest]'"


def load(options: Options, say: Callable[[str], None]) -> dict[str, Any] | None:
    """The whole of `mlprod loadtest`: a `--worker`'s part (None), or a run's document."""
    from mlprod_cli.loadtest import settings as checks

    if options.worker:
        master_at = checks.worker_target(options)
        require_engine()
        work(*master_at, say=say)
        return None
    settings = checks.from_options(options)
    require_engine()
    prepared = prepare(settings)
    return execute(prepared, say=say, progress=lambda tick: say(progress_line(tick)))


def require_engine() -> None:
    """Locust and hdrhistogram come with the `loadtest` extra: say so, rather than a traceback."""
    from importlib.util import find_spec

    missing = [
        name
        for name, module in (("locust", "locust"), ("hdrhistogram", "hdrh"))
        if find_spec(module) is None
    ]
    if missing:
        raise UserError(f"mlprod loadtest needs {' and '.join(missing)}: {EXTRA_HINT}")
