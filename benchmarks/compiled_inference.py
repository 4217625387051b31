"""Compiled inference against native: `mlprod benchmark` and served req/s under wrk.

    .venv/bin/python benchmarks/compiled_inference.py PROJECT [--rounds 3]
        [--duration 5] [--runs 3] [--no-forest]

PROJECT is a generated classification project (the example), installed (`.venv` with
the api and dev extras) and trained: its `model_version` has a compiled model beside
the native one. Unless `--no-forest`, the script also registers a 300-tree random
forest as version `0.1.0-rf300` of the same project (in its models/, once; training
with the project's own code, the estimator swapped for the run), compiled as any
version is.

For each version, in each round: `mlprod benchmark --batch-sizes 1,32` (which times
the native model and then the compiled one in the same run, same inputs), then wrk
(one thread, one connection, keep-alive; `apt-get install -y wrk`) against two uWSGI
servers of one worker each, one with MODEL_RUNTIME=native, one with MODEL_RUNTIME=onnx,
in alternating order from round to round. It prints every run's figures, then the
medians over the rounds and the ratios compiled/native. Traffic stays on loopback.

A benchmark, not a test: it prints figures. On a machine shared with other work the
figures move between rounds; the medians and the interleaving are there for that.
"""

from __future__ import annotations

import argparse
import json
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
FOREST = "0.1.0-rf300"
RUNTIMES = ("native", "onnx")

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
    '\\nRESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3, help="mlprod benchmark --runs")
    parser.add_argument("--no-forest", action="store_true", help="the example alone")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    project = load_project(args.project)
    python = environment.venv_python(project.root / ".venv")
    versions = [project.model_version]
    if not args.no_forest:
        versions.append(_register_forest(project.root, project.package, python))
    figures: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for version in versions:
            for _ in range(args.rounds):
                for key, value in _benchmark(project.root, version, args.runs, Path(tmp)).items():
                    figures.setdefault((version, key), []).append(value)
            for key, values in _served(project, python, version, args, Path(tmp)).items():
                figures.setdefault((version, key), []).extend(values)
    print("\nmedians over the rounds")
    for version in versions:
        _summary(version, {key: value for (v, key), value in figures.items() if v == version})


def _register_forest(root: Path, package: str, python: Path) -> str:
    if (root / "models" / f"{load_project(root).model_name}-{FOREST}.json").exists():
        print(f"{FOREST}: already registered")
        return FOREST
    script = REGISTER_FOREST.format(package=package)
    done = subprocess.run(
        [str(python), "-c", script, FOREST], cwd=root, capture_output=True, text=True, check=True
    )
    print(f"{FOREST}: a 300-tree random forest registered; compiled: {done.stdout.strip()}")
    return FOREST


def _benchmark(root: Path, version: str, runs: int, tmp: Path) -> dict[str, float]:
    out = tmp / "bench.json"
    command = [str(MLPROD), "benchmark", "--project", str(root), "--model-version", version]
    command += ["--batch-sizes", "1,32", "--runs", str(runs), "--load-runs", "1"]
    command += ["--min-time", "0.05", "--json", str(out)]
    subprocess.run(command, capture_output=True, check=True)
    document = json.loads(out.read_text())
    compiled = document["compiled"]
    if compiled is None:
        sys.exit(f"{version} has no compiled model; nothing to compare")
    result = {}
    line = [f"{version:<12} mlprod benchmark"]
    for runtime, batches in (("native", document["predict"]), ("onnx", compiled["predict"])):
        for batch in batches:
            mean = batch["latency_s"]["summary"]["mean"]
            result[f"{runtime} {batch['batch_size']} rows, us"] = mean * 1e6
            line.append(f"{runtime} {batch['batch_size']}: {mean * 1e6:,.1f} us")
    print("; ".join(line))
    return result


def _served(
    project: Any, python: Path, version: str, args: argparse.Namespace, tmp: Path
) -> dict[str, list[float]]:
    """Two one-worker servers, one per runtime; wrk at one connection, alternating."""
    uwsgi = python.parent / "uwsgi"
    env = {"UWSGI_PROCESSES": "1", "UWSGI_MAX_REQUESTS": "1000000", "LOG_LEVEL": "WARNING"}
    env["MODEL_VERSION"] = version
    results: dict[str, list[float]] = {}
    with (
        server.running(project.root, uwsgi, env={**env, "MODEL_RUNTIME": "native"}) as native,
        server.running(project.root, uwsgi, env={**env, "MODEL_RUNTIME": "onnx"}) as onnx,
    ):
        urls = {"native": native, "onnx": onnx}
        for runtime, url in urls.items():
            answered = server.request("GET", f"{url}/v1/model").body["runtime"]
            assert answered == runtime, (runtime, answered)
        manifest = server.request("GET", f"{native}/v1/model").body
        bodies = from_manifest(manifest, project).bodies
        script = tmp / "predict.lua"
        script.write_text(WRK_SCRIPT % ", ".join(f"[==[{body}]==]" for body in bodies))
        for number in range(1, args.rounds + 1):
            order = RUNTIMES if number % 2 else RUNTIMES[::-1]
            for runtime in order:
                rps, p50, errors = _wrk(urls[runtime], script, args.duration)
                results.setdefault(f"{runtime} served req/s", []).append(rps)
                print(
                    f"{version:<12} round {number} wrk -c1 {runtime:<6} {rps:>9,.0f} req/s, "
                    f"p50 {p50:.3f} ms, {errors:.0f} errors"
                )
    return results


def _wrk(url: str, script: Path, duration: int) -> tuple[float, float, float]:
    base = ["wrk", "-t1", "-c1", "-s", str(script), f"{url}/v1/predict"]
    subprocess.run([*base[:1], "-d1s", *base[1:]], capture_output=True, check=True)  # warm-up
    out = subprocess.run([*base[:1], f"-d{duration}s", *base[1:]], capture_output=True, text=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    data: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return data["requests"] / (data["duration_us"] / 1e6), data["p50_us"] / 1000, data["errors"]


def _summary(version: str, figures: dict[str, list[float]]) -> None:
    median = {key: statistics.median(values) for key, values in figures.items()}
    for key, value in sorted(median.items()):
        print(f"  {version:<12} {key:<26} {value:>12,.1f}  (n={len(figures[key])})")
    for size in (1, 32):
        native, onnx = median[f"native {size} rows, us"], median[f"onnx {size} rows, us"]
        print(f"  {version:<12} {size} rows: compiled {native / onnx:.1f}x faster than native")
    served = median["onnx served req/s"] / median["native served req/s"]
    print(f"  {version:<12} served, one worker, wrk -c1: compiled {served:.2f}x native req/s")


if __name__ == "__main__":
    main()
