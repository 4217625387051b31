"""uWSGI's HTTP sockets on a generated project: client resets across worker recycles, and req/s.

    .venv/bin/python benchmarks/uwsgi_sockets.py PROJECT [--requests 3000] [--recycle 200]
                                                 [--seconds 5] [--rounds 2]

PROJECT is a generated, installed (`.venv`) and trained project. Three variants of its
uwsgi.ini are compared: as shipped (`http-socket` with `Connection: close`); uWSGI's HTTP
router with keep-alive (`http` + `http-keepalive`) in front of the same gevent workers,
which it reaches on a local unix socket; and `http11-socket` (keep-alive) without gevent.
For each, two workers recycling every --recycle requests serve --requests predictions from
one client that reuses its connection whenever the server lets it; the failures are
counted. Then, when `wrk` is installed, one worker serves wrk's one connection, and two
workers its four, for --seconds, --rounds times, the variants interleaved.
A benchmark prints figures; the tests assert the behaviour (tests/test_resilience.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlprod_cli.project.server import LOOPBACK, free_port, request, stop

SHIPPED = "http-socket + Connection: close"
ROUTER = "http router + http-keepalive"
KEEP_ALIVE = "http11-socket (keep-alive)"
VARIANTS = (SHIPPED, ROUTER, KEEP_ALIVE)
INSTANCE = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
BODY = json.dumps({"instances": [INSTANCE]})
WRK_SCRIPT = f"""wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""


def variant_ini(project: Path, variant: str) -> str:
    """The project's uwsgi.ini text, with its socket lines swapped for keep-alive if asked."""
    text = (project / "uwsgi.ini").read_text()
    if variant == SHIPPED:
        return text
    if variant == ROUTER:
        # the router holds the client connections and hands each request to a worker on
        # a unix socket in the metrics directory; the workers keep gevent
        router = (
            "http = %(bind_host):%(bind_port)\nhttp-keepalive = 1\n"
            "socket = %(metrics_dir)/workers.sock\n"
        )
        text = re.sub(r"^http-socket = .*\n", router, text, flags=re.MULTILINE)
        return re.sub(r"^add-header = Connection: close\n", "", text, flags=re.MULTILINE)
    text = re.sub(r"^http-socket = ", "http11-socket = ", text, flags=re.MULTILINE)
    # under uWSGI's gevent loop a kept-alive http11-socket connection never gets its second
    # answer: the keep-alive variant runs without it, one connection per worker at a time
    text = re.sub(r"^gevent = .*\n", "", text, flags=re.MULTILINE)
    return re.sub(r"^add-header = Connection: close\n", "", text, flags=re.MULTILINE)


@contextmanager
def serving(project: Path, variant: str, processes: int, *args: str) -> Iterator[int]:
    """uWSGI from the variant's ini (beside uwsgi.ini, so that its `%d` is the project)."""
    port = free_port()
    with (
        tempfile.NamedTemporaryFile(
            "w", dir=project, prefix=".uwsgi-sockets-", suffix=".ini"
        ) as ini,
        tempfile.TemporaryDirectory() as metrics,
        tempfile.TemporaryFile() as log,
    ):
        ini.write(variant_ini(project, variant))
        ini.flush()
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("UWSGI_")},
            "HOST": LOOPBACK,
            "PORT": str(port),
            "STATS_PORT": str(free_port()),
            "RECYCLE_REQUESTS": "100000000",
            "UWSGI_PROCESSES": str(processes),
            "PROMETHEUS_MULTIPROC_DIR": metrics,
            "LOG_LEVEL": "WARNING",
        }
        uwsgi = project / ".venv" / "bin" / "uwsgi"
        process = subprocess.Popen(
            [str(uwsgi), "--ini", ini.name, *args],
            cwd=project,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(port, processes, int(environ["STATS_PORT"]))
            yield port
        finally:
            stop(process)


def wait_ready(port: int, processes: int, stats_port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stats = request("GET", f"http://{LOOPBACK}:{stats_port}", timeout=2).body
            if sum(worker["accepting"] for worker in stats["workers"]) == processes:
                return
        except (OSError, TypeError, KeyError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"uWSGI on port {port} was not ready within {timeout:.0f} s")


def resets(project: Path, variant: str, requests: int, recycle: int) -> tuple[Counter[str], int]:
    """Failures seen by one connection-reusing client, and the number of worker recycles."""
    args = ["--max-requests", str(recycle), "--max-requests-delta", "0"]
    args += ["--min-worker-lifetime", "1"]
    failures: Counter[str] = Counter()
    with serving(project, variant, 2, *args) as port:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        for _ in range(requests):
            try:
                connection.request(
                    "POST", "/v1/predict", BODY, {"Content-Type": "application/json"}
                )
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    failures[f"HTTP {answer.status}"] += 1
            except (OSError, http.client.HTTPException) as error:
                failures[type(error).__name__] += 1
                connection.close()
        connection.close()
    return failures, requests // recycle


def throughput(project: Path, variant: str, seconds: int, processes: int, connections: int) -> str:
    with (
        tempfile.NamedTemporaryFile("w", suffix=".lua") as script,
        serving(project, variant, processes) as port,
    ):
        script.write(WRK_SCRIPT)
        script.flush()
        wrk = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name,
             f"http://{LOOPBACK}:{port}/v1/predict"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    rate = re.search(r"Requests/sec:\s+([\d.]+)", wrk.stdout)
    # the latency distribution's lines, not a "+/- Stdev" column that ends in 50% or 99%
    p50 = re.search(r"^\s+50%\s+(\S+)", wrk.stdout, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", wrk.stdout, re.MULTILINE)
    errors = re.search(r"Socket errors: .*|Non-2xx.*", wrk.stdout)
    return (
        f"{float(rate.group(1)) if rate else 0:8.0f} req/s  p50 {p50.group(1) if p50 else '?':>8}"
        f"  p99 {p99.group(1) if p99 else '?':>8}"
        f"  {errors.group(0) if errors else ''}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--recycle", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    project = args.project.resolve()
    print(f"{os.cpu_count()} CPUs; one client reusing its connection, two workers recycled")
    print(f"every {args.recycle} requests, {args.requests} requests:")
    for variant in VARIANTS:
        failures, recycles = resets(project, variant, args.requests, args.recycle)
        shown = ", ".join(f"{n} {kind}" for kind, n in failures.items()) or "none"
        print(f"  {variant:<32} ~{recycles} recycles, failed requests: {shown}")
    if shutil.which("wrk") is None:
        print("wrk is not installed: no throughput figures")
        return
    for processes, connections in ((1, 1), (2, 4)):
        print(
            f"{processes} worker(s), wrk with {connections} connection(s), {args.seconds} s a run:"
        )
        for round_number in range(1, args.rounds + 1):
            for variant in VARIANTS:
                figures = throughput(project, variant, args.seconds, processes, connections)
                print(f"  round {round_number} {variant:<32} {figures}")


if __name__ == "__main__":
    main()
