"""The run's figures as a versioned JSON document, a summary table, and threshold checks.

The document is the one source for every output: the table and the HTML report are
drawn from it, so what a CI job reads from `--json` is what a person saw.
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import socket
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlprod_cli import __version__
from mlprod_cli.errors import UserError
from mlprod_cli.loadtest.recording import Figures, Percentiles
from mlprod_cli.loadtest.settings import Settings, Thresholds

FORMAT = "mlprod-loadtest"
FORMAT_VERSION = 1
RATE_SHORTFALL = 0.95
"""An open-loop run that achieves less than this share of its target rate says so."""
CPU_SATURATED = 80.0
"""A load process busier than this (% of one core, on average) measures itself."""
UNFINISHED_WAIT = 1.0
"""Requests cut off at the end after waiting this long (s) are worth a warning."""
THRESHOLD_EXIT_CODE = 3
"""Exit code of a run that breached a threshold (1 is a tool error, 2 a usage error)."""


@dataclass(frozen=True)
class Target:
    """The server under load."""

    url: str
    """Base URL, `http://host:port`."""
    started: bool
    """True when mlprod started the project's server for this run (and stopped it)."""
    project: Path | None
    server_processes: int | None
    """uWSGI worker processes, when mlprod started the server."""


def document(
    settings: Settings,
    target: Target,
    payload_count: int,
    payload_source: str,
    figures: Figures,
) -> dict[str, Any]:
    """Everything about the run, as plain JSON data."""
    results = _results(settings, figures)
    results["load_cpu"] = load_cpu(target, figures)
    checks = threshold_checks(settings.thresholds, figures)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {
            "mode": "open" if settings.open_loop else "closed",
            "users": settings.users,
            "rate": settings.rate,
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "processes": settings.processes,
            "master": settings.master,
            "workers": settings.expect_workers,
            "keep_alive": settings.keep_alive,
            "payload": None if settings.payload is None else str(settings.payload),
            "thresholds": asdict(settings.thresholds),
        },
        "target": {
            "url": f"{target.url}/v1/predict",
            "started_by_mlprod": target.started,
            "project": None if target.project is None else str(target.project),
            "server_processes": target.server_processes,
        },
        "payloads": {"count": payload_count, "source": payload_source},
        "environment": _environment(),
        "results": results,
        "thresholds": checks,
        "passed": all(check["passed"] for check in checks),
        "warnings": warnings(settings, figures),
    }


def _results(settings: Settings, figures: Figures) -> dict[str, Any]:
    return {
        "requests": figures.requests,
        "errors": figures.errors,
        "error_rate": round(figures.error_rate, 6),
        "rps": round(figures.rps, 2),
        "target_rps": settings.rate,
        "achieved_ratio": round(figures.rps / settings.rate, 4) if settings.rate else None,
        "unfinished": figures.unfinished,
        "unfinished_max_wait_s": figures.unfinished_max_wait,
        "latency_from": "intended send time" if settings.open_loop else "send time",
        "latency_ms": _percentiles(figures.latency),
        "service_time_ms": _percentiles(figures.service),
        "timeline": [
            {
                "second": point.second,
                "measured": point.measured,
                "requests": point.requests,
                "errors": point.errors,
                "p50_ms": point.p50,
                "p99_ms": point.p99,
                "max_ms": point.max,
            }
            for point in figures.timeline
        ],
        "load_processes": [
            {
                "name": process.name,
                "users": process.users,
                "requests": process.requests,
                "cpu_mean_percent": process.cpu_mean,
                "cpu_max_percent": process.cpu_max,
            }
            for process in figures.processes
        ],
    }


def load_cpu(target: Target, figures: Figures) -> dict[str, Any] | None:
    """The CPU the load processes took, in cores and per answered request, and whether
    they ran on the server's machine (a loopback target): there it is CPU the server did
    not have, and a reader must not take the load's cost for the server's.

    Cores are each process's CPU time over wall time (its mean CPU percent) added up;
    None when no process was sampled.
    """
    means = [process.cpu_mean for process in figures.processes if process.cpu_mean is not None]
    if not means:
        return None
    cores = sum(means) / 100
    return {
        "cores": round(cores, 3),
        "cpu_per_request_us": round(cores / figures.rps * 1e6, 1) if figures.rps else None,
        "on_server_machine": _is_loopback(target.url),
    }


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _percentiles(values: Percentiles | None) -> dict[str, float] | None:
    if values is None:
        return None
    return {
        "p50": values.p50,
        "p90": values.p90,
        "p99": values.p99,
        "p99_9": values.p99_9,
        "max": values.max,
        "mean": values.mean,
    }


def threshold_checks(thresholds: Thresholds, figures: Figures) -> list[dict[str, Any]]:
    """Each threshold that was set, its value in this run, and whether it held."""
    checks = []
    if thresholds.max_p99_ms is not None:
        p99 = figures.latency.p99 if figures.latency else None
        checks.append(
            _check(
                "--max-p99-ms",
                thresholds.max_p99_ms,
                p99,
                p99 is not None and p99 <= thresholds.max_p99_ms,
            )
        )
    if thresholds.max_error_rate is not None:
        rate = figures.error_rate if figures.requests else None
        checks.append(
            _check(
                "--max-error-rate",
                thresholds.max_error_rate,
                rate,
                rate is not None and rate <= thresholds.max_error_rate,
            )
        )
    if thresholds.min_rps is not None:
        checks.append(
            _check("--min-rps", thresholds.min_rps, figures.rps, figures.rps >= thresholds.min_rps)
        )
    return checks


def _check(option: str, limit: float, value: float | None, passed: bool) -> dict[str, Any]:
    return {
        "option": option,
        "limit": limit,
        "value": None if value is None else round(value, 6),
        "passed": passed,
    }


def breach_lines(doc: dict[str, Any]) -> list[str]:
    """One line per breached threshold, naming the figure, its value and the limit."""
    lines = []
    for check in doc["thresholds"]:
        if check["passed"]:
            continue
        option, limit, value = check["option"], check["limit"], check["value"]
        if value is None:
            lines.append(f"threshold breached: {option} {limit:g}: no response was measured")
        elif option == "--max-p99-ms":
            lines.append(f"threshold breached: p99 {value:g} ms > {option} {limit:g}")
        elif option == "--max-error-rate":
            lines.append(f"threshold breached: error rate {value:g} > {option} {limit:g}")
        else:
            lines.append(f"threshold breached: {value:g} req/s < {option} {limit:g}")
    return lines


def warnings(settings: Settings, figures: Figures) -> list[str]:
    """What makes the figures describe something other than the server under load."""
    found = []
    if settings.rate and figures.rps < RATE_SHORTFALL * settings.rate:
        found.append(
            f"achieved {figures.rps:.1f} req/s, {figures.rps / settings.rate:.0%} of the "
            f"{settings.rate:g} req/s asked for: the server (or the load generator) could not keep "
            f"up; raise --users above {settings.users} if the load processes were not busy"
        )
    for process in figures.processes:
        if process.cpu_mean is not None and process.cpu_mean > CPU_SATURATED:
            found.append(
                f"load process {process.name} used {process.cpu_mean:.0f}% of a core on average: "
                "the figures may describe the load generator, not the server; "
                "add --processes (one per free core) or machines"
            )
    waited = figures.unfinished_max_wait
    if figures.unfinished and waited is not None and waited >= UNFINISHED_WAIT:
        cause = (
            "; with --keep-alive, a server whose workers each hold one connection (uWSGI's "
            "http11-socket) keeps users beyond its worker count waiting: drop --keep-alive "
            "or use fewer users"
            if settings.keep_alive
            else ""
        )
        found.append(
            f"{figures.unfinished} request(s) still waited for an answer when the run stopped, "
            f"the longest for {waited:.1f} s; they are in no percentile{cause}"
        )
    if figures.requests == 0:
        found.append("no response completed in the measured window")
    return found


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """The table printed at the end of a run."""
    settings, results, target = doc["settings"], doc["results"], doc["target"]
    lines = [f"Load test of {target['url']}", _describe_load(settings), ""]
    errors = sum(results["errors"].values())
    lines.append(
        f"  requests     {results['requests']:>10,}   errors {errors:,} "
        f"({results['error_rate']:.2%})"
    )
    rate = f"  throughput   {results['rps']:>10,.1f} req/s"
    if results["target_rps"]:
        rate += (
            f"   target {results['target_rps']:g} req/s ({results['achieved_ratio']:.1%} achieved)"
        )
    lines.append(rate)
    latency = results["latency_ms"]
    lines.append("")
    lines.append(f"  {'latency (ms)':<28}{'p50':>9}{'p90':>9}{'p99':>9}{'p99.9':>9}{'max':>9}")
    label = "from intended send" if settings["mode"] == "open" else "response time"
    lines.append(_latency_row(label, latency))
    if results["service_time_ms"] is not None:
        lines.append(_latency_row("from actual send (uncorr.)", results["service_time_ms"]))
    for kind, count in results["errors"].items():
        lines.append(f"  error {kind}: {count:,}")
    lines.append("")
    lines.append(
        f"  {'load process':<28}{'users':>7}{'requests':>11}{'cpu mean':>10}{'cpu max':>9}"
    )
    for process in results["load_processes"]:
        lines.append(
            f"  {process['name']:<28}{process['users']:>7}{process['requests']:>11,}"
            f"{_percent(process['cpu_mean_percent']):>10}{_percent(process['cpu_max_percent']):>9}"
        )
    cpu = load_cpu_line(results["load_cpu"], doc["environment"]["cpu_count"])
    if cpu:
        lines.append(f"  {cpu}")
    return lines


def load_cpu_line(cpu: dict[str, Any] | None, cpu_count: int | None) -> str:
    """The load's CPU in one sentence, saying whose CPU it was ("" when unmeasured)."""
    if cpu is None:
        return ""
    per_request = cpu["cpu_per_request_us"]
    cost = "" if per_request is None else f", {per_request:,.0f} µs a request"
    if not cpu["on_server_machine"]:
        return f"load generator CPU: {cpu['cores']:.2f} cores{cost} (not on the server's machine)"
    cores = f"of this machine's {cpu_count} cores" if cpu_count else "cores"
    return (
        f"load generator CPU: {cpu['cores']:.2f} {cores}{cost}, "
        "taken from the server on the same machine"
    )


def _describe_load(settings: dict[str, Any]) -> str:
    if settings["mode"] == "open":
        load = f"open loop at {settings['rate']:g} req/s over {settings['users']} users"
    else:
        load = f"closed loop, {settings['users']} users"
    processes = settings["workers"] or 1
    connection = "keep-alive" if settings["keep_alive"] else "a new connection per request"
    return (
        f"{load}, {settings['duration_s']} s measured after {settings['warmup_s']} s warm-up, "
        f"{processes} load process{'es' if processes > 1 else ''}, {connection}"
    )


def _latency_row(label: str, values: dict[str, float] | None) -> str:
    if values is None:
        return f"  {label:<28}{'no responses':>45}"
    cells = "".join(f"{values[key]:>9.3f}" for key in ("p50", "p90", "p99", "p99_9", "max"))
    return f"  {label:<28}{cells}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _environment() -> dict[str, Any]:
    return {
        "mlprod": __version__,
        "locust": _version("locust"),
        "hdrhistogram": _version("hdrhistogram"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` whole: a temporary file beside it, renamed into place."""
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.resolve().parent, prefix=f".{path.name}.", delete=False
        ) as file:
            temporary = Path(file.name)
            file.write(text)
        temporary.replace(path)
    except OSError as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
