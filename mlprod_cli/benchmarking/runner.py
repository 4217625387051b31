"""Measure a generated project's model from inside the project's own environment.

`mlprod benchmark` runs this file with the project's interpreter, never by importing
the project into mlprod (which may live in an environment of its own). It uses the
standard library, NumPy, pyperf and the project's model layer, nothing from mlprod.

    python -I benchmark_runner.py probe|load|predict < request.json

The request is one JSON object on standard input. The answer is JSON lines on standard
output: zero or more `{"event": "progress", ...}` lines, then one final line, either
`{"event": "result", "data": {...}}` (exit code 0) or
`{"event": "error", "kind": "...", "message": "..."}` (exit code 1). Anything else the
project or pyperf prints goes to standard error. The runner only measures; mlprod does
the statistics.

- `probe`: the environment (Python, CPU, library versions) and whether the project
  and pyperf are installed.
- `load`: in this fresh process, the time to import the model layer and to load the
  model through the project's registry (hash check included), the resident memory the
  load adds, and the heap the loaded model holds (tracemalloc, on a second load).
- `predict`: for each batch size, pyperf's calibrated timings of `predict` (run in
  process: warm-ups, loops calibrated to `min_time`, several runs of several values),
  then single calls timed one by one for the latency percentiles; the peak resident
  memory at the end.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import platform
import re
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

PYPERF_MINIMUM = (2, 11)  # the first pyperf with in-process runs (`--in-process`)
CALL_SAMPLES_MINIMUM = 20
CALL_SAMPLES_MAXIMUM = 10_000

_OUT = sys.stdout


class RunnerError(Exception):
    """A failure the runner reports as an error event: `kind` tells mlprod which one."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def main(argv: list[str]) -> int:
    """Answer one request; the mode is the only argument."""
    modes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "probe": probe,
        "load": load,
        "predict": predict,
    }
    if len(argv) != 1 or argv[0] not in modes:
        _fail("usage", f"usage: benchmark_runner.py {'|'.join(modes)} < request.json")
    # Whatever the project, NumPy or pyperf print must not mix with the JSON lines.
    sys.stdout = sys.stderr
    try:
        data = modes[argv[0]](json.load(sys.stdin))
    except RunnerError as error:
        _fail(error.kind, str(error))
    _emit({"event": "result", "data": data})
    return 0


def probe(request: dict[str, Any]) -> dict[str, Any]:
    """What runs here: Python, CPU, library versions; are the project and pyperf installed?"""
    # Only looked up, not imported: the model layer's imports cost a second, and the
    # first fresh-process load reports any failure of theirs.
    installed = importlib.util.find_spec(request["package"]) is not None
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": platform.platform(),
        "cpu": _cpu(),
        "libraries": _libraries(request["distribution"]),
        "installed": installed,
        "pyperf": _pyperf_version(),
        "pyperf_minimum": ".".join(map(str, PYPERF_MINIMUM)),
    }


def load(request: dict[str, Any]) -> dict[str, Any]:
    """Import the model layer and load the model once, in this fresh process."""
    started = time.perf_counter()
    registry, model_type = _model_layer(request["package"])
    imported = time.perf_counter()
    rss_before = _current_rss()
    began = time.perf_counter()
    loaded = _load_model(registry, model_type, request)
    load_s = time.perf_counter() - began
    rss_after = _current_rss()
    peak_rss = _peak_rss()
    # A second load, traced: what the loaded model holds on the heap (NumPy arrays
    # included), without the import-time allocations the first load may trigger.
    tracemalloc.start()
    again = _load_model(registry, model_type, request)
    heap, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del loaded, again
    return {
        "import_s": imported - started,
        "load_s": load_s,
        "model_rss_bytes": (
            None if rss_before is None or rss_after is None else rss_after - rss_before
        ),
        "peak_rss_bytes": peak_rss,
        "model_heap_bytes": heap,
    }


def predict(request: dict[str, Any]) -> dict[str, Any]:
    """Calibrated pyperf timings of `predict`, and single-call timings, per batch size."""
    import numpy as np

    pyperf = _import_pyperf()
    registry, model_type = _model_layer(request["package"])
    loaded = _load_model(registry, model_type, request)
    dtype = loaded.manifest.input_schema.dtype
    rows = request["rows"]
    batches = {
        size: np.array([rows[i % len(rows)] for i in range(size)], dtype=dtype)
        for size in request["batch_sizes"]
    }
    model = loaded.model
    for size, batch in batches.items():
        _check_predicts(model, batch, size)
    runner = pyperf.Runner(
        processes=request["runs"],
        values=request["values"],
        warmups=request["warmups"],
        min_time=request["min_time_s"],
    )
    runner.parse_args(["--in-process", "--quiet"])
    results = []
    for size, batch in batches.items():
        results.append(_measure_batch(runner, model, batch, size, request))
    return {"batches": results, "peak_rss_bytes": _peak_rss()}


def _measure_batch(
    runner: Any, model: Any, batch: Any, size: int, request: dict[str, Any]
) -> dict[str, Any]:
    _emit({"event": "progress", "phase": "predict", "batch_size": size, "step": "start"})

    def time_func(loops: int) -> float:
        _emit({"event": "progress", "phase": "predict", "batch_size": size, "step": "value"})
        predict = model.predict
        repeat = itertools.repeat(None, loops)
        clock = time.perf_counter
        began = clock()
        for _ in repeat:
            predict(batch)
        return clock() - began

    bench = runner.bench_time_func(f"predict, batch {size}", time_func)
    runs = [run for run in bench.get_runs() if run.values]
    budget = (request["warmups"] + request["values"]) * request["min_time_s"]
    return {
        "batch_size": size,
        "loops": runs[0].get_loops() if runs else 0,
        "values_s": list(bench.get_values()),
        "call_s": _time_calls(model.predict, batch, budget),
    }


def _time_calls(predict: Callable[[Any], Any], batch: Any, budget_s: float) -> list[float]:
    """Single calls timed one by one, for `budget_s` seconds (within the sample bounds)."""
    clock = time.perf_counter
    timings: list[float] = []
    deadline = clock() + budget_s
    while len(timings) < CALL_SAMPLES_MAXIMUM and (
        len(timings) < CALL_SAMPLES_MINIMUM or clock() < deadline
    ):
        began = clock()
        predict(batch)
        timings.append(clock() - began)
    return timings


def _check_predicts(model: Any, batch: Any, size: int) -> None:
    """One call before timing: a model that refuses the inputs is reported, not timed."""
    try:
        predictions = model.predict(batch)
    except ValueError as error:  # the model layer's InvalidInputError is a ValueError
        raise RunnerError(
            "invalid_input", f"the model refused a batch of {size} rows: {error}"
        ) from None
    if len(predictions) != size:
        raise RunnerError(
            "invalid_input",
            f"the model returned {len(predictions)} predictions for a batch of {size} rows",
        )


def _model_layer(package: str) -> tuple[Any, type]:
    """The project's registry module and its model class."""
    try:
        registry = importlib.import_module(f"{package}.model.registry")
        predictor = importlib.import_module(f"{package}.model.predictor")
    except ImportError as error:
        raise RunnerError("import", f"cannot import {package}'s model layer: {error}") from None
    return registry, predictor.Predictor


def _load_model(registry: Any, model_type: type, request: dict[str, Any]) -> Any:
    """Load through the project's registry, which checks the artifact's SHA-256 first;
    in the runtime the request names (``onnx``: the compiled model), native by default."""
    place = (Path(request["models_dir"]), request["model_name"], request["version"])
    runtime = request.get("runtime", "native")
    try:
        if runtime == "native":
            return registry.load(*place, model_type)
        if not hasattr(registry, "load_served"):
            raise RunnerError("registry", "this project's registry has no compiled runtime")
        return registry.load_served(*place, model_type, runtime=runtime)
    except registry.RegistryError as error:
        raise RunnerError("registry", str(error)) from None


def _import_pyperf() -> Any:
    version = _pyperf_version()
    if version is None:
        raise RunnerError("pyperf_missing", "pyperf is not installed")
    if _version_tuple(version) < PYPERF_MINIMUM:
        raise RunnerError("pyperf_old", version)
    import pyperf

    return pyperf


def _pyperf_version() -> str | None:
    try:
        return importlib.metadata.version("pyperf")
    except importlib.metadata.PackageNotFoundError:
        return None


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def _libraries(distribution: str) -> dict[str, str]:
    """The project's distribution, its installed requirements, and pyperf, with versions."""
    names = [distribution, "pyperf"]
    try:
        requirements = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        if re.search(r"\bextra\s*==", requirement):
            continue  # an optional extra's requirement
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        if match:
            names.append(match.group(0))
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement for another Python version, or not installed
    return dict(sorted(versions.items()))


def _cpu() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": _cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": usable}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _current_rss() -> int | None:
    """Resident memory now, in bytes (Linux); None where the system does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _peak_rss() -> int | None:
    """Peak resident memory of this process, in bytes."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes; Linux: KiB


def _emit(event: dict[str, Any]) -> None:
    _OUT.write(json.dumps(event) + "\n")
    _OUT.flush()


def _fail(kind: str, message: str) -> NoReturn:
    _emit({"event": "error", "kind": kind, "message": message})
    sys.exit(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
