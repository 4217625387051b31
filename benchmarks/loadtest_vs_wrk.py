"""`mlprod loadtest` against wrk: same server, same concurrency, same bodies; both figures.

    .venv/bin/python benchmarks/loadtest_vs_wrk.py PROJECT [--connections 1,4]
        [--duration 5] [--rounds 3] [--server-processes 1]

PROJECT is a generated project, installed (`.venv` with the api extra) and trained.
The script starts its uWSGI once on a free loopback port, builds request bodies from
the served manifest and the training data (as `mlprod loadtest` does), then runs, in
turn, wrk (`apt-get install -y wrk`; one thread) and `mlprod loadtest --host ...
--keep-alive` (one Locust process) at the same number of connections, for each number
given, each run preceded by a one-second warm-up. It prints requests per second and
p50/p99 of each run, then for each number of connections the ratios of the medians
(the target: within 15%), and the CPU each tool's load process took, in % of a core and
per request: on the server's own machine that is CPU the server did not get, and a load
process near 100% describes the client, not the server.

Both keep connections alive; the generated uwsgi.ini's HTTP router keeps them across
worker recycles (a server that closes each one, such as uWSGI's http-socket with
`Connection: close`, makes both reconnect). `--server-processes 2` on two cores is the
default server (a worker per core) with the load sharing its cores. One
connection is where a client's own time shows most: each request waits for the
client to take in the previous answer and open the next connection. With more
connections than workers the server is the bottleneck and requests queue for it. On a
2-core machine one uWSGI worker (the default) leaves a core to the client: with more
workers than free cores, the client waits for a CPU between requests and both tools
measure the scheduler. Against a server whose workers each hold one connection
(uWSGI's http11-socket), use no more connections than workers. Traffic stays on loopback.

A benchmark, not a test: it prints figures. Locust is never imported here (it
monkey-patches the standard library); mlprod runs as its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlprod_cli.loadtest.payloads import from_manifest
from mlprod_cli.project import environment, load_project, server

MLPROD = Path(sys.executable).parent / "mlprod"

WRK_SCRIPT = """
local bodies = {%s}
local prepared = {}
local i = 0
init = function(args)
  for n, body in ipairs(bodies) do
    prepared[n] = wrk.format("POST", "/v1/predict", {["Content-Type"] = "application/json"}, body)
  end
end
request = function()
  i = i %% #prepared + 1
  return prepared[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, '
      .. '"p99_us": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument(
        "--connections",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 4],
        help="numbers of connections to compare at, comma-separated (default: 1,4)",
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--server-processes",
        type=int,
        default=1,
        help="uWSGI workers (default 1: on 2 cores, one for the server and one for the client)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    project = load_project(args.project)
    uwsgi = environment.venv_python(project.root / ".venv").parent / "uwsgi"
    # No worker recycling mid-run: a 1-2 s model reload would land in one tool's figures.
    env = {
        "UWSGI_PROCESSES": str(args.server_processes),
        "UWSGI_MAX_REQUESTS": "1000000",
        "LOG_LEVEL": "WARNING",
    }
    with server.running(project.root, uwsgi, env=env) as url, tempfile.TemporaryDirectory() as tmp:
        manifest = server.request("GET", f"{url}/v1/model").body
        bodies = from_manifest(manifest, project).bodies
        script = Path(tmp) / "predict.lua"
        script.write_text(WRK_SCRIPT % ", ".join(f"[==[{body}]==]" for body in bodies))
        print(
            f"{project.slug} under uWSGI ({args.server_processes} workers) at {url}; "
            f"keep-alive, {args.duration} s per run, {len(bodies)} bodies"
        )
        print(
            f"{'round':<7}{'conns':<7}{'tool':<9}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
            f"{'errors':>8}  note"
        )
        rows: dict[tuple[int, str], list[dict[str, float]]] = {}
        for number in range(1, args.rounds + 1):
            for connections in args.connections:
                for tool, measure in (("wrk", _wrk), ("mlprod", _mlprod)):
                    # a connection the previous run left open may hold a worker for a while
                    server.request("GET", f"{url}/health/live", timeout=30)
                    row = measure(url, script, connections, args.duration, Path(tmp))
                    rows.setdefault((connections, tool), []).append(row)
                    note = f"load cpu {row['cpu']:.0f}%"
                    print(
                        f"{number:<7}{connections:<7}{tool:<9}{row['rps']:>10,.0f}"
                        f"{row['p50']:>10.3f}{row['p99']:>10.3f}{row['errors']:>8.0f}  {note}"
                    )
    for connections in args.connections:
        _compare(connections, rows[connections, "wrk"], rows[connections, "mlprod"])


def _wrk(url: str, script: Path, connections: int, duration: int, tmp: Path) -> dict[str, float]:
    base = ["wrk", "-t1", f"-c{connections}", "-s", str(script), f"{url}/v1/predict"]
    subprocess.run([*base[:1], "-d1s", *base[1:]], capture_output=True, check=True)  # warm-up
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*base[:1], f"-d{duration}s", *base[1:]], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    data: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50": data["p50_us"] / 1000,
        "p99": data["p99_us"] / 1000,
        "errors": data["errors"],
        "cpu": cpu / (data["duration_us"] / 1e6) * 100,
    }


def _mlprod(url: str, script: Path, connections: int, duration: int, tmp: Path) -> dict[str, float]:
    out = tmp / "lt.json"
    command = [str(MLPROD), "loadtest", "--host", url, "--users", str(connections)]
    command += ["--keep-alive", "--duration", f"{duration}s", "--warmup", "1s", "--json", str(out)]
    subprocess.run(command, capture_output=True, check=True)
    results = json.loads(out.read_text())["results"]
    (process,) = results["load_processes"]
    return {
        "rps": results["rps"],
        "p50": results["latency_ms"]["p50"],
        "p99": results["latency_ms"]["p99"],
        "errors": sum(results["errors"].values()),
        "cpu": process["cpu_mean_percent"] or 0.0,
    }


def _compare(connections: int, wrk: list[dict[str, float]], mlprod: list[dict[str, float]]) -> None:
    def median(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    rps = median(mlprod, "rps") / median(wrk, "rps")
    p50 = median(mlprod, "p50") / median(wrk, "p50")
    cpu = median(mlprod, "cpu")
    within = abs(rps - 1) <= 0.15 and abs(p50 - 1) <= 0.15
    print(
        f"{connections} connections, median mlprod/wrk: req/s {rps:.2f}, p50 {p50:.2f}; "
        f"within 15% of wrk: {'yes' if within else 'no'}"
        + (" (mlprod's load process was saturated)" if cpu > 80 else "")
    )
    # the load runs on the server's machine: what it took is CPU the server did not get
    for tool, rows in (("wrk", wrk), ("mlprod", mlprod)):
        share = median(rows, "cpu")
        per_request = share / 100 / median(rows, "rps") * 1e6
        print(
            f"  {tool:<7} load took {share:.0f}% of a core ({per_request:.0f} us a request) "
            f"from the {os.cpu_count()} CPUs the server shares"
        )


if __name__ == "__main__":
    main()
