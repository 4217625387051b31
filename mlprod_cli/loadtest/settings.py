"""The load test's options, checked before anything starts, as one frozen value.

Every check happens here, before Locust is imported or a server is started, so a
mistake costs the user one line on stderr and nothing else.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlprod_cli.errors import UserError

DEFAULT_USERS = 4
"""Closed-loop users when neither --users nor --rate is given."""
MIN_OPEN_LOOP_USERS = 10
"""With --rate, at least this many users share the schedule..."""
MAX_RATE_PER_USER = 200.0
"""...and enough of them that none is asked for more than this many requests a second."""
DEFAULT_MASTER_PORT = 5557
"""Locust's own default port for workers to reach the master."""

_DURATION = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s?)?")


@dataclass(frozen=True)
class Thresholds:
    """Limits that fail a CI run: each is checked only when set."""

    max_p99_ms: float | None = None
    max_error_rate: float | None = None
    """A fraction: 0.01 is 1% of the measured requests."""
    min_rps: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.max_p99_ms, self.max_error_rate, self.min_rps))


@dataclass(frozen=True)
class Settings:
    """One load test, as the user asked for it."""

    users: int
    """Closed loop: concurrent users. Open loop: the users that share the schedule."""
    rate: float | None
    """Open loop: requests a second across all users; None for a closed loop."""
    duration: int
    """Seconds measured, after the warm-up."""
    warmup: int
    """Seconds of load before measuring starts."""
    processes: int
    """Local Locust worker processes; 1 runs the load in mlprod's own process."""
    master: bool
    """Coordinate workers on other machines (`mlprod loadtest --worker`)."""
    expect_workers: int
    """Workers to wait for before starting: local ones plus remote ones."""
    master_port: int
    keep_alive: bool
    host: str | None
    """The server's base URL; None to start the project's own server."""
    project_dir: Path | None
    payload: Path | None
    json_path: Path | None
    html_path: Path | None
    thresholds: Thresholds

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    @property
    def distributed(self) -> bool:
        """The load comes from Locust worker processes, not from mlprod's own process."""
        return self.master or self.processes > 1

    @property
    def local_workers(self) -> int:
        """Worker processes to start on this machine (none when the load runs in-process)."""
        return self.processes if self.processes > 1 else 0

    @property
    def total_seconds(self) -> int:
        return self.warmup + self.duration


def parse_duration(option: str, text: str, minimum: int) -> int:
    """Whole seconds from `30`, `30s`, `2m`, `1m30s` or `1h`."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise UserError(
            f"{option} {text!r} is not a duration: give seconds (30, 30s), "
            "minutes (2m, 1m30s) or hours (1h)"
        )
    seconds = sum(
        int(match[unit] or 0) * scale for unit, scale in (("h", 3600), ("m", 60), ("s", 1))
    )
    if seconds < minimum:
        raise UserError(f"{option} must be at least {minimum} s, got {text!r}")
    return seconds


def open_loop_users(rate: float) -> int:
    """Users for an open-loop run when --users is not given."""
    return max(MIN_OPEN_LOOP_USERS, math.ceil(rate / MAX_RATE_PER_USER))


def base_url(text: str) -> str:
    """`--host` checked and without a trailing slash: `http://host:port`."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(
            f"--host {text!r} is not an HTTP URL: give the server's base URL, "
            "e.g. http://127.0.0.1:8000"
        )
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise UserError(
            f"--host {text!r} must be the server's base URL, without a path: "
            "mlprod sends its requests to <host>/v1/predict"
        )
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise UserError(f"--host {text!r} has an invalid port") from None
    return f"{parts.scheme}://{parts.netloc}"


def check_positive(option: str, value: float | None, *, at_least: float = 0.0) -> None:
    """`value`, when given, must be a finite number above `at_least` (or equal to it when 1+)."""
    if value is None:
        return
    if not math.isfinite(value):
        raise UserError(f"{option} must be a finite number, got {value}")
    if at_least >= 1 and value < at_least:
        raise UserError(f"{option} must be at least {at_least:g}, got {value:g}")
    if at_least < 1 and value <= at_least:
        raise UserError(f"{option} must be greater than {at_least:g}, got {value:g}")


def check_output(option: str, path: Path | None) -> None:
    """An output file must go into an existing folder, and not be a folder itself."""
    if path is None:
        return
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name")
    if not path.resolve().parent.is_dir():
        raise UserError(f"{option} {path}: the folder {path.parent} does not exist")


def check_thresholds(thresholds: Thresholds) -> None:
    check_positive("--max-p99-ms", thresholds.max_p99_ms)
    check_positive("--min-rps", thresholds.min_rps)
    rate = thresholds.max_error_rate
    if rate is not None and not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise UserError(
            f"--max-error-rate must be a fraction between 0 and 1 (0.01 is 1%), got {rate:g}"
        )


@dataclass(frozen=True)
class Options:
    """The command's options as typed, before they are checked."""

    project_dir: Path | None = None
    host: str | None = None
    users: int | None = None
    rate: float | None = None
    duration: str = "30s"
    warmup: str = "5s"
    processes: int = 1
    master: bool = False
    worker: bool = False
    master_host: str | None = None
    master_port: int = DEFAULT_MASTER_PORT
    expect_workers: int | None = None
    keep_alive: bool = False
    payload: Path | None = None
    json_path: Path | None = None
    html_path: Path | None = None
    thresholds: Thresholds = Thresholds()


def worker_target(options: Options) -> tuple[str, int]:
    """For `--worker`: the master's host and port; every other setting comes from the master."""
    if options.master:
        raise UserError("--worker and --master exclude each other: a process is one or the other")
    if not options.master_host:
        raise UserError("--worker needs --master-host HOST: the machine running --master")
    given = [
        name
        for name, value, default in (
            ("--project", options.project_dir, None),
            ("--host", options.host, None),
            ("--users", options.users, None),
            ("--rate", options.rate, None),
            ("--duration", options.duration, Options.duration),
            ("--warmup", options.warmup, Options.warmup),
            ("--processes", options.processes, Options.processes),
            ("--expect-workers", options.expect_workers, None),
            ("--keep-alive", options.keep_alive, False),
            ("--payload", options.payload, None),
            ("--json", options.json_path, None),
            ("--html", options.html_path, None),
        )
        if value != default
    ]
    if given or options.thresholds.any:
        named = ", ".join(given) or "thresholds"
        raise UserError(
            f"--worker takes its settings from the master: drop {named} here "
            "and give it to `mlprod loadtest --master` instead"
        )
    _check_port(options.master_port)
    return options.master_host, options.master_port


def from_options(options: Options) -> Settings:
    """Check every option, in the order a user reads them; the first mistake is reported."""
    if options.master_host is not None:
        raise UserError("--master-host is for --worker: the master binds its own port")
    if options.users is not None and options.users < 1:
        raise UserError(f"--users must be at least 1, got {options.users}")
    check_positive("--rate", options.rate)
    duration = parse_duration("--duration", options.duration, minimum=1)
    warmup = parse_duration("--warmup", options.warmup, minimum=0)
    if options.processes < 1:
        raise UserError(f"--processes must be at least 1, got {options.processes}")
    users = options.users or (
        open_loop_users(options.rate) if options.rate is not None else DEFAULT_USERS
    )
    host = base_url(options.host) if options.host is not None else None
    expect_workers = _expected_workers(options, users)
    _check_port(options.master_port)
    if options.payload is not None and not options.payload.is_file():
        raise UserError(f"--payload {options.payload} is not a file")
    check_output("--json", options.json_path)
    check_output("--html", options.html_path)
    check_thresholds(options.thresholds)
    return Settings(
        users=users,
        rate=options.rate,
        duration=duration,
        warmup=warmup,
        processes=options.processes,
        master=options.master,
        expect_workers=expect_workers,
        master_port=options.master_port,
        keep_alive=options.keep_alive,
        host=host,
        project_dir=options.project_dir,
        payload=options.payload,
        json_path=options.json_path,
        html_path=options.html_path,
        thresholds=options.thresholds,
    )


def _expected_workers(options: Options, users: int) -> int:
    local = options.processes if options.processes > 1 else 0
    if options.master:
        if options.host is None:
            raise UserError(
                "--master needs --host URL: workers on other machines cannot reach a server "
                "that mlprod starts on this machine's loopback address"
            )
        expected = options.expect_workers if options.expect_workers is not None else max(local, 1)
        if expected < max(local, 1):
            raise UserError(
                f"--expect-workers {expected} is fewer than the {max(local, 1)} "
                "worker(s) this machine starts"
            )
    elif options.expect_workers is not None:
        raise UserError(
            "--expect-workers is for --master; with --processes N mlprod waits for its own N"
        )
    else:
        expected = local
    if expected > users:
        raise UserError(
            f"--users {users} is fewer than the {expected} load processes: "
            "give each at least one user (raise --users or lower --processes)"
        )
    return expected


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise UserError(f"--master-port must be between 1 and 65535, got {port}")
