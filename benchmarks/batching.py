"""Micro-batching and the prediction cache on a slow model, against BentoML's batching.

    .venv/bin/python benchmarks/batching.py PROJECT [--seconds 5] [--rounds 3]
        [--connections 1,8,32] [--no-bentoml] [--cache-only] [--cache-warm 20]
        [--bentoml-env DIR]

PROJECT is a generated classification project (the example), installed (`.venv` with
the api extra) and trained. The script registers a 300-tree random forest as version
`0.1.0-rf300` of it (once; the project's own training code, the estimator swapped for the
run: the same version `benchmarks/compiled_inference.py` registers), compiled to ONNX as
any version is. Then it starts, all at once, servers of two workers each on loopback:

- `native`, `native+batch`: the forest in scikit-learn, without and with micro-batching
  (`BATCH_MAX_SIZE=64`, the other batching settings at their defaults);
- `onnx`, `onnx+batch`: the same forest compiled (`MODEL_RUNTIME=onnx`);
- `bentoml`: BentoML 1.4 serving the same artifact (loaded with skops) with its adaptive
  batching on (`batchable=True`, `max_batch_size=64`), two workers; BentoML is installed
  by this script into its own virtual environment (`--bentoml-env`, made with uv), never
  into mlprod's or the project's;
- `native+cache`: the native forest with `PREDICTION_CACHE=1000`, for the cache workload.

wrk (one thread, keep-alive; `apt-get install -y wrk`) drives each in turn: every round
runs every server at every connection count, the servers' order rotated from round to
round, so that all see the same machine. The cache workload (90% of requests repeat one
of 100 instances, 10% are new) runs against `native` and `native+cache` at 8 connections,
after the cache's server has been sent the 100 instances in turn for --cache-warm seconds
(a cache starts empty in each worker; --cache-only runs this part alone).
Each run prints req/s, p50, p99 and errors (non-2xx and socket errors); then the medians
and the ratios. The service logs its JSON line per request, as in production (to a file).
The load average is printed before and after: on a shared machine, read it with them.
Every run is bounded by --seconds; a server that is not ready within 3 minutes ends the
script. A benchmark prints figures; the tests assert the behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlprod_cli.project import environment, load_project
from mlprod_cli.project.server import LOOPBACK, free_port, request, stop

FOREST = "0.1.0-rf300"
BATCH = {"BATCH_MAX_SIZE": "64"}
SERVICES: dict[str, Mapping[str, str]] = {
    "native": {"MODEL_RUNTIME": "native"},
    "native+batch": {"MODEL_RUNTIME": "native", **BATCH},
    "onnx": {"MODEL_RUNTIME": "onnx"},
    "onnx+batch": {"MODEL_RUNTIME": "onnx", **BATCH},
}
CACHE = {"native+cache": {"MODEL_RUNTIME": "native", "PREDICTION_CACHE": "1000"}}
BENTOML = "bentoml"
CACHE_BASELINE = "native (cache workload)"
CACHE_CONNECTIONS = 8
READY_TIMEOUT = 180.0

REGISTER_FOREST = """
import sys
from pathlib import Path
from sklearn.ensemble import RandomForestClassifier
from {package}.model import estimator
from {package}.model.train import find_project_config, train

estimator.build = lambda params: RandomForestClassifier(n_estimators=300, n_jobs=1)
manifest = train(find_project_config(), Path("models"), version=sys.argv[1])
print(manifest.compiled.precision if manifest.compiled else manifest.not_compiled)
"""

BENTO_SERVICE = '''
"""The project's forest behind BentoML, with its adaptive batching (benchmarks/batching.py)."""
import os

import bentoml
import numpy as np
import skops.io


@bentoml.service(workers=2, traffic={"timeout": 60})
class Forest:
    def __init__(self) -> None:
        path = os.environ["FOREST_ARTIFACT"]
        self.pipeline = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=1000)
    def predict(self, instances: np.ndarray) -> np.ndarray:
        return self.pipeline.predict(instances)
'''

RESULT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: float


@dataclass(frozen=True)
class Target:
    url: str
    script: Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--connections", default="1,8,32", help="wrk connection counts, comma-separated"
    )
    parser.add_argument("--no-bentoml", action="store_true", help="leave BentoML out")
    parser.add_argument(
        "--cache-only", action="store_true", help="only the cache workload (and no BentoML)"
    )
    parser.add_argument(
        "--cache-warm",
        type=int,
        default=20,
        help="seconds the cache's server is sent the 100 repeated instances in turn first",
    )
    parser.add_argument(
        "--bentoml-env",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mlprod-bench-bentoml",
        help="the virtual environment BentoML is installed into (kept for later runs)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    connections = [int(part) for part in args.connections.split(",")]
    project = load_project(args.project)
    python = environment.venv_python(project.root / ".venv")
    _register_forest(project.root, project.package, python)
    manifest = json.loads(
        (project.root / "models" / f"{project.model_name}-{FOREST}.json").read_text()
    )
    example = manifest["input_schema"]["example"]
    print(f"load average before: {_load()}", flush=True)
    started = time.monotonic()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        scripts = _scripts(Path(tmp), example)
        targets: dict[str, Target] = {}
        servers = CACHE | {"native": SERVICES["native"]} if args.cache_only else SERVICES | CACHE
        for name, env in servers.items():
            port = stack.enter_context(_uwsgi(project.root, project.model_name, env, Path(tmp)))
            url = f"http://{LOOPBACK}:{port}/v1/predict"
            targets[name] = Target(url, scripts["repeats" if name in CACHE else "one"])
        targets[CACHE_BASELINE] = Target(targets["native"].url, scripts["repeats"])
        warm = Target(targets["native+cache"].url, scripts["warm"])
        print(f"the cache warmed for {args.cache_warm} s: {_show(_wrk(warm, 8, args.cache_warm))}")
        if args.cache_only:
            targets = {name: targets[name] for name in (CACHE_BASELINE, *CACHE)}
        elif not args.no_bentoml:
            artifact = project.root / "models" / manifest["artifact"]["file"]
            bentoml_python = _bentoml_env(args.bentoml_env, python)
            port = stack.enter_context(_bentoml(bentoml_python, artifact, Path(tmp)))
            targets[BENTOML] = Target(f"http://{LOOPBACK}:{port}/predict", scripts["bentoml"])
        print(f"servers ready in {time.monotonic() - started:.0f} s", flush=True)
        runs = _measure(targets, connections, args.seconds, args.rounds)
    print(f"load average after: {_load()}")
    _report(runs, [] if args.cache_only else connections)


def _register_forest(root: Path, package: str, python: Path) -> None:
    if list((root / "models").glob(f"*-{FOREST}.json")):
        print(f"{FOREST}: already registered")
        return
    done = subprocess.run(
        [str(python), "-c", REGISTER_FOREST.format(package=package), FOREST],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"{FOREST}: a 300-tree random forest registered; compiled: {done.stdout.strip()}")


def _scripts(tmp: Path, example: dict[str, object]) -> dict[str, Path]:
    """wrk scripts: one instance; 100 instances repeated 90% of the time; BentoML's body."""
    one = json.dumps({"instances": [example]})
    numeric = [name for name, value in example.items() if isinstance(value, int | float)]
    if not numeric:
        sys.exit("the example has no numeric feature to vary for the cache workload")
    varied = {**example, numeric[0]: "@VALUE@"}
    template = json.dumps({"instances": [varied]}).replace('"@VALUE@"', "%s")
    repeats = f"""
local headers = {{["Content-Type"] = "application/json"}}
local template = [==[{template}]==]
math.randomseed(7)
request = function()
  local value
  if math.random() < 0.9 then
    value = string.format("%.2f", 4 + math.random(0, 99) / 100)
  else
    value = string.format("%.9f", 5 + math.random())
  end
  return wrk.format("POST", nil, headers, string.format(template, value))
end
"""
    warm = f"""
local headers = {{["Content-Type"] = "application/json"}}
local template = [==[{template}]==]
local i = 0
request = function()
  i = i % 100 + 1
  local value = string.format("%.2f", 4 + (i - 1) / 100)
  return wrk.format("POST", nil, headers, string.format(template, value))
end
"""
    bentoml = json.dumps({"instances": [list(example.values())]})
    scripts = {}
    for name, text in (
        ("one", _fixed(one)),
        ("repeats", repeats),
        ("warm", warm),
        ("bentoml", _fixed(bentoml)),
    ):
        path = tmp / f"{name}.lua"
        path.write_text(text + RESULT)
        scripts[name] = path
    return scripts


def _fixed(body: str) -> str:
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{body}]==]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )


@contextmanager
def _uwsgi(root: Path, model_name: str, env: Mapping[str, str], tmp: Path) -> Iterator[int]:
    """The project under its uwsgi.ini, two workers, serving the forest; its port."""
    port = free_port()
    metrics = Path(tempfile.mkdtemp(dir=tmp))
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith("UWSGI_")},
        "HOST": LOOPBACK,
        "PORT": str(port),
        "UWSGI_PROCESSES": "2",
        "MODEL_NAME": model_name,
        "MODEL_VERSION": FOREST,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        # no recycling inside a run: a model reload is not what is measured
        "RECYCLE_REQUESTS": "100000000",
        "UWSGI_MAX_REQUESTS": "100000000",
        **env,
    }
    with open(metrics / "server.log", "wb") as log:
        process = subprocess.Popen(
            [str(root / ".venv" / "bin" / "uwsgi"), "--ini", str(root / "uwsgi.ini")],
            cwd=root,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait(f"http://{LOOPBACK}:{port}/health/ready", process)
            yield port
        finally:
            stop(process)


def _bentoml_env(venv: Path, project_python: Path) -> Path:
    """A virtual environment with BentoML 1.4 and the project's scikit-learn and skops."""
    python = venv / "bin" / "python"
    versions = subprocess.run(
        [
            str(project_python),
            "-c",
            "import sklearn, skops, numpy; "
            "print(sklearn.__version__, skops.__version__, numpy.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        sys.exit("uv is needed to make BentoML's environment (it comes with mlprod's dev extra)")
    if not python.exists():
        subprocess.run([uv, "venv", "-q", "-p", "3.11", str(venv)], check=True)
    sklearn, skops, numpy = versions
    pins = [f"scikit-learn=={sklearn}", f"skops=={skops}", f"numpy=={numpy}"]
    install = [uv, "pip", "install", "-q", "-p", str(python), "bentoml>=1.4,<1.5", *pins]
    subprocess.run(install, check=True, timeout=900)
    return python


@contextmanager
def _bentoml(python: Path, artifact: Path, tmp: Path) -> Iterator[int]:
    """`bentoml serve` of the forest on loopback; its port."""
    port = free_port()
    service = tmp / "bento"
    service.mkdir()
    (service / "service.py").write_text(BENTO_SERVICE)
    environ = {
        **os.environ,
        "FOREST_ARTIFACT": str(artifact),
        "BENTOML_HOME": str(tmp / "bentoml-home"),
        "BENTOML_DO_NOT_TRACK": "true",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    bentoml = python.parent / "bentoml"
    command = [str(bentoml), "serve", "service:Forest", "--host", LOOPBACK, "--port", str(port)]
    with open(tmp / "bentoml.log", "wb") as log:
        process = subprocess.Popen(
            command, cwd=service, env=environ, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait(f"http://{LOOPBACK}:{port}/readyz", process)
            yield port
        finally:
            stop(process)


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server for {url} exited with {process.returncode}")
        try:
            if request("GET", url, timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"{url} was not ready within {READY_TIMEOUT:.0f} s")


def _measure(
    targets: dict[str, Target], connections: list[int], seconds: int, rounds: int
) -> dict[tuple[str, int], list[Run]]:
    """Every target at every connection count (the cache workload's at its own), each round
    in a rotated order."""
    cache_workload = {CACHE_BASELINE, *CACHE}
    plan = [
        (name, count) for count in connections for name in targets if name not in cache_workload
    ]
    plan += [(name, CACHE_CONNECTIONS) for name in targets if name in cache_workload]
    runs: dict[tuple[str, int], list[Run]] = {}
    for number in range(rounds):
        shift = number % len(plan)
        for name, count in plan[shift:] + plan[:shift]:
            run = _wrk(targets[name], count, seconds)
            runs.setdefault((name, count), []).append(run)
            print(f"  round {number + 1}  {name:<24} {count:>2} conn  {_show(run)}", flush=True)
    return runs


def _wrk(target: Target, connections: int, seconds: int) -> Run:
    command = ["wrk", "-t1", f"-c{connections}", "-s", str(target.script), "--timeout", "10s"]
    subprocess.run([*command, "-d1s", target.url], capture_output=True, check=True)  # warm-up
    out = subprocess.run(
        [*command, f"-d{seconds}s", target.url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Run(
        rate=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=float(data["errors"]),
    )


def _show(run: Run) -> str:
    errors = f"  {run.errors:.0f} errors" if run.errors else ""
    return f"{run.rate:8.1f} req/s  p50 {run.p50_ms:8.2f} ms  p99 {run.p99_ms:8.2f} ms{errors}"


def _median(runs: list[Run]) -> Run:
    return Run(
        *(
            statistics.median(getattr(run, name) for run in runs)
            for name in ("rate", "p50_ms", "p99_ms", "errors")
        )
    )


def _report(runs: dict[tuple[str, int], list[Run]], connections: list[int]) -> None:
    medians = {key: _median(found) for key, found in runs.items()}
    if connections:
        print("\nmedians over the rounds (2 workers each; req/s, p50, p99)")
        print("| server | " + " | ".join(f"{count} conn" for count in connections) + " |")
        print("|---|" + "---|" * len(connections))
        names = [
            name
            for name in (*SERVICES, BENTOML)
            if connections and (name, connections[0]) in medians
        ]
        for name in names:
            cells = []
            for count in connections:
                run = medians.get((name, count))
                cells.append(
                    "-"
                    if run is None
                    else f"{run.rate:.0f}, {run.p50_ms:.1f} ms, {run.p99_ms:.0f} ms"
                )
            print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for runtime in ("native", "onnx") if connections else ():
        batched = runtime + "+batch"
        ratios = [
            f"{count} conn {medians[batched, count].rate / medians[runtime, count].rate:.2f}x"
            for count in connections
        ]
        print(f"{runtime}: batched / unbatched req/s: " + ", ".join(ratios))
    if connections and (BENTOML, connections[0]) in medians:
        for runtime in ("native+batch", "onnx+batch"):
            ratios = [
                f"{count} conn {medians[runtime, count].rate / medians[BENTOML, count].rate:.2f}x"
                for count in connections
            ]
            print(f"{runtime} / bentoml req/s: " + ", ".join(ratios))
    base = medians.get((CACHE_BASELINE, CACHE_CONNECTIONS))
    cached = medians.get(("native+cache", CACHE_CONNECTIONS))
    if base and cached:
        print(
            f"cache workload, {CACHE_CONNECTIONS} connections: native {base.rate:.0f} req/s "
            f"(p50 {base.p50_ms:.1f} ms), with PREDICTION_CACHE {cached.rate:.0f} req/s "
            f"(p50 {cached.p50_ms:.1f} ms): {cached.rate / base.rate:.2f}x"
        )


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
