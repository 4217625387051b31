"""uWSGI's HTTP arrangements on a generated project: resets across worker recycles, and wrk.

    .venv/bin/python benchmarks/uwsgi_sockets.py PROJECT [--requests 3000] [--recycle 200]
        [--seconds 5] [--rounds 3] [--no-resets]

PROJECT is a generated, installed (`.venv`) and trained project. Three arrangements of its
uwsgi.ini are compared:

- router (as shipped): uWSGI's HTTP router holds the client connections, kept alive, and
  hands each request to the gevent workers on a unix socket;
- close: `http-socket` with `Connection: close` on every response, the gevent workers
  serving HTTP themselves (the default before the router);
- http11: `http11-socket`, keep-alive in the workers themselves, without gevent (under it
  uWSGI never answers a kept-alive connection's second request): the stack's limit.

First, for each arrangement, two workers recycling every --recycle requests serve
--requests predictions from one client that reuses its connection whenever the server
lets it; the failed requests are counted. Then, when `wrk` is installed, the service
(LOG_LEVEL=INFO: its JSON log line per request, to a file) and a bare WSGI function
serving the same artifact (the project's `benchmarks/bare_wsgi.py`) run side by side: with
one worker and wrk's one connection, then two workers and four connections; all the
servers of a shape start first, then wrk runs against each in turn, --rounds times, the
order rotated every round. Each run prints req/s, p50 and p99, the server's CPU per
request (master, router and workers, from /proc) and wrk's own. Load stays on loopback;
the load average is printed before and after, as the machine may be shared.
A benchmark prints figures; the tests assert the behaviour (tests/test_resilience.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlprod_cli.project.server import LOOPBACK, free_port, request, stop

ROUTER, CLOSE, HTTP11 = "router", "close", "http11"
ARRANGEMENTS = (ROUTER, CLOSE, HTTP11)
SERVICE, BARE = "service", "bare"
# what wrk is pointed at: the service and the bare function under the shipped arrangement,
# the bare function under http11-socket (the limit), and the service as it was (close)
PAIRS = ((SERVICE, ROUTER), (BARE, ROUTER), (BARE, HTTP11), (SERVICE, CLOSE))
SHAPES = ((1, 1), (2, 4))
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[%s]==]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, '
      .. '"errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_us: float
    """The server's CPU time per request: master, router and workers."""
    wrk_us: float
    """wrk's own CPU time per request."""


def arrangement_ini(project: Path, arrangement: str) -> str:
    """The project's uwsgi.ini text, with its HTTP lines swapped for the arrangement's."""
    text = (project / "uwsgi.ini").read_text()
    if arrangement == ROUTER:
        if not re.search(r"^http = ", text, flags=re.MULTILINE):
            raise SystemExit(f"{project}/uwsgi.ini has no `http = ` router line")
        return text
    # the router's lines go, the workers listen for HTTP themselves
    text = re.sub(r"^(http-[a-z-]+|socket) = .*\n", "", text, flags=re.MULTILINE)
    if arrangement == CLOSE:
        listen = "http-socket = %(bind_host):%(bind_port)\nadd-header = Connection: close\n"
    else:
        listen = "http11-socket = %(bind_host):%(bind_port)\n"
        text = re.sub(r"^gevent = .*\n", "", text, flags=re.MULTILINE)
    return re.sub(r"^http = .*\n", listen, text, flags=re.MULTILINE)


@dataclass(frozen=True)
class Server:
    port: int
    master: int


@contextmanager
def serving(
    project: Path, arrangement: str, app: str, processes: int, *args: str
) -> Iterator[Server]:
    """uWSGI from the arrangement's ini (beside uwsgi.ini, so that its `%d` is the project)."""
    port = free_port()
    with (
        tempfile.NamedTemporaryFile(
            "w", dir=project, prefix=".uwsgi-sockets-", suffix=".ini"
        ) as ini,
        tempfile.TemporaryDirectory() as metrics,
        tempfile.TemporaryFile() as log,
    ):
        ini.write(arrangement_ini(project, arrangement))
        ini.flush()
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("UWSGI_")},
            "HOST": LOOPBACK,
            "PORT": str(port),
            "STATS_PORT": str(free_port()),
            "RECYCLE_REQUESTS": "100000000",
            "UWSGI_PROCESSES": str(processes),
            "PROMETHEUS_MULTIPROC_DIR": metrics,
            "LOG_LEVEL": "INFO",
        }
        options = list(args)
        if app == BARE:
            environ["BARE_WSGI_MANIFEST"] = str(newest_manifest(project))
            options += ["--pythonpath", str(project / "benchmarks")]
            options += ["--module", "bare_wsgi:application"]
        uwsgi = project / ".venv" / "bin" / "uwsgi"
        process = subprocess.Popen(
            [str(uwsgi), "--ini", ini.name, *options],
            cwd=project,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(project, port, processes, int(environ["STATS_PORT"]))
            yield Server(port, process.pid)
        finally:
            stop(process)


def newest_manifest(project: Path) -> Path:
    """The manifest of the newest trained version in the project's models/."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in json.loads(path.read_text())["version"].split("."))

    manifests = [path for path in (project / "models").glob("*.json") if path.stem[-1].isdigit()]
    if not manifests:
        raise SystemExit(f"no trained model in {project / 'models'}: train it first")
    return max(manifests, key=version)


def wait_ready(
    project: Path, port: int, processes: int, stats_port: int, timeout: float = 180.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stats = request("GET", f"http://{LOOPBACK}:{stats_port}", timeout=2).body
            accepting = sum(worker["accepting"] for worker in stats["workers"])
            if accepting == processes and predict_once(port, body(project)) == 200:
                return
        except (OSError, TypeError, KeyError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise SystemExit(f"uWSGI on port {port} was not ready within {timeout:.0f} s")


def predict_once(port: int, payload: str) -> int:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        connection.request("POST", "/v1/predict", payload, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def body(project: Path) -> str:
    """A prediction request for the manifest's example instance."""
    example = json.loads(newest_manifest(project).read_text())["input_schema"]["example"]
    return json.dumps({"instances": [example]})


def resets(project: Path, arrangement: str, requests: int, recycle: int) -> Counter[str]:
    """The failures one connection-reusing client sees while two workers recycle."""
    args = ["--max-requests", str(recycle), "--max-requests-delta", "0"]
    args += ["--min-worker-lifetime", "1"]
    failures: Counter[str] = Counter()
    payload = body(project)
    with serving(project, arrangement, SERVICE, 2, *args) as server:
        connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=30)
        for _ in range(requests):
            try:
                connection.request(
                    "POST", "/v1/predict", payload, {"Content-Type": "application/json"}
                )
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    failures[f"HTTP {answer.status}"] += 1
            except (OSError, http.client.HTTPException) as error:
                failures[type(error).__name__] += 1
                connection.close()
        connection.close()
    return failures


def cpu_seconds(master: int) -> float:
    """User plus system CPU time of the master and every process under it, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        # after the command name: ppid is field 4 of proc(5), utime 14 and stime 15
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, grew = {master}, True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return sum(times.get(pid, 0.0) for pid in tree)


def wrk(server: Server, script: Path, seconds: int, connections: int) -> Run:
    command = ["wrk", "-t1", f"-c{connections}", "-s", str(script)]
    url = f"http://{LOOPBACK}:{server.port}/v1/predict"
    subprocess.run([*command, "-d1s", url], capture_output=True, check=True)  # warm-up
    server_before = cpu_seconds(server.master)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [*command, f"-d{seconds}s", url], capture_output=True, text=True, check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = cpu_seconds(server.master) - server_before
    wrk_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    count = max(int(data["requests"]), 1)
    return Run(
        rate=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=int(data["errors"]),
        server_us=server_cpu / count * 1e6,
        wrk_us=wrk_cpu / count * 1e6,
    )


def show(run: Run) -> str:
    return (
        f"{run.rate:7.0f} req/s  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms  "
        f"server {run.server_us:4.0f} us/req  wrk {run.wrk_us:3.0f} us/req"
        + (f"  {run.errors} errors" if run.errors else "")
    )


def median(runs: list[Run]) -> Run:
    return Run(
        *(
            statistics.median(getattr(run, name) for run in runs)
            for name in ("rate", "p50_ms", "p99_ms", "errors", "server_us", "wrk_us")
        )
    )


def throughput(
    project: Path, seconds: int, rounds: int, script: Path, shapes: list[tuple[int, int]]
) -> None:
    for processes, connections in shapes:
        print(f"{processes} worker(s), wrk with {connections} connection(s), {seconds} s a run:")
        runs: dict[tuple[str, str], list[Run]] = {pair: [] for pair in PAIRS}
        with ExitStack() as stack:
            # no worker recycles (a model reload, and a reset under http11) inside a run
            no_recycling = ("--max-requests", "100000000")
            servers = {
                pair: stack.enter_context(
                    serving(project, pair[1], pair[0], processes, *no_recycling)
                )
                for pair in PAIRS
            }
            for number in range(rounds):
                order = PAIRS[number % len(PAIRS) :] + PAIRS[: number % len(PAIRS)]
                for pair in order:
                    run = wrk(servers[pair], script, seconds, connections)
                    runs[pair].append(run)
                    print(f"  round {number + 1}  {'/'.join(pair):<15} {show(run)}")
        medians = {pair: median(found) for pair, found in runs.items()}
        for pair in PAIRS:
            print(f"  median   {'/'.join(pair):<15} {show(medians[pair])}")
        service = medians[SERVICE, ROUTER]
        print(
            f"  service/router: {service.rate / medians[BARE, ROUTER].rate:.2f}x the bare "
            f"function's req/s under the router, "
            f"{service.rate / medians[BARE, HTTP11].rate:.2f}x under http11-socket "
            f"(target: at least 0.8); p99 {service.p99_ms:.2f} ms against "
            f"{medians[SERVICE, CLOSE].p99_ms:.2f} ms closing every connection"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--recycle", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-resets", action="store_true", help="only the wrk figures")
    parser.add_argument(
        "--shapes",
        type=lambda text: [tuple(int(n) for n in shape.split("x")) for shape in text.split(",")],
        default=list(SHAPES),
        help="WORKERSxCONNECTIONS, comma-separated (default: 1x1,2x4)",
    )
    args = parser.parse_args()
    project = args.project.resolve()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} (1 min) at the start")
    if not args.no_resets:
        print(f"one client reusing its connection, two workers recycled every {args.recycle}")
        print(f"requests, {args.requests} requests (~{args.requests // args.recycle} recycles):")
        for arrangement in ARRANGEMENTS:
            failures = resets(project, arrangement, args.requests, args.recycle)
            shown = ", ".join(f"{n} {kind}" for kind, n in failures.items()) or "none"
            print(f"  {arrangement:<8} failed requests: {shown}")
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk): no throughput figures")
        return
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "predict.lua"
        script.write_text(WRK_SCRIPT % body(project))
        throughput(project, args.seconds, args.rounds, script, args.shapes)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end")


if __name__ == "__main__":
    main()
