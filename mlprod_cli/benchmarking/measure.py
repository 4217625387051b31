"""Run the benchmark's phases in the project's environment, in order.

1. probe: what the environment is, and whether it can run the benchmark at all
   (the project importable, pyperf recent enough); a failure here costs a second,
   not a minute;
2. load, `load_runs` times, each in a fresh process, one after the other;
3. predict: one process, every batch size, pyperf in process.

Progress is reported through a callback, `(description, steps done)`, out of
`total_steps(settings)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlprod_cli.benchmarking import process
from mlprod_cli.benchmarking.document import Measurement
from mlprod_cli.benchmarking.inputs import Inputs
from mlprod_cli.benchmarking.settings import Settings
from mlprod_cli.errors import UserError
from mlprod_cli.project import Project
from mlprod_cli.project.models import TrainedModel

Progress = Callable[[str, int], None]


def total_steps(settings: Settings, runtimes: int = 1) -> int:
    """One step per fresh load process and one per batch size and runtime."""
    return settings.load_runs + runtimes * len(settings.batch_sizes)


def runtimes(model: TrainedModel) -> int:
    """Runtimes to time: native, and compiled (ONNX Runtime) when the version has it."""
    return 1 if model.compiled_path is None else 2


def measure(
    project: Project,
    python: Path,
    model: TrainedModel,
    inputs: Inputs,
    settings: Settings,
    progress: Progress,
) -> Measurement:
    """Probe, load in fresh processes, then time predictions; raise `UserError` on failure."""
    request: dict[str, Any] = {
        "package": project.package,
        "distribution": project.slug,
        "models_dir": str(project.models_dir),
        "model_name": model.name,
        "version": model.version,
    }
    with process.runner_script() as script:
        progress("checking the environment", 0)
        environment = _probe(project, python, script, request)
        loads = []
        for run in range(settings.load_runs):
            progress(f"loading the model in a fresh process ({run + 1}/{settings.load_runs})", run)
            loads.append(_load(project, python, script, request))
        predict = _predict(project, python, script, request, inputs, settings, progress)
        compiled = None
        if runtimes(model) == 2:  # the same inputs, through ONNX Runtime, in another process
            compiled_request = {**request, "runtime": "onnx"}
            compiled = _predict(
                project, python, script, compiled_request, inputs, settings, progress, 1
            )
    progress("done", total_steps(settings, runtimes(model)))
    return Measurement(environment=environment, loads=loads, predict=predict, compiled=compiled)


def _probe(project: Project, python: Path, script: Path, request: Mapping[str, Any]) -> Any:
    found = _run(project, python, script, "probe", request)
    hint = _install_hint(project, python)
    if not found["installed"]:
        raise UserError(
            f"{python} cannot import {project.package}: install the project there (`{hint}`) "
            "or pass --python"
        )
    if found["pyperf"] is None:
        raise UserError(
            f"pyperf is not installed in {python}'s environment; "
            f"install the project's dev extra there (`{hint}`)"
        )
    if _older(found["pyperf"], found["pyperf_minimum"]):
        raise UserError(
            f"pyperf {found['pyperf']} in {python}'s environment is older than "
            f"{found['pyperf_minimum']}, the first with in-process runs; upgrade it "
            f"(`uv pip install --python {python} -U pyperf`)"
        )
    return found


def _load(project: Project, python: Path, script: Path, request: Mapping[str, Any]) -> Any:
    began = time.perf_counter()
    result = _run(project, python, script, "load", request)
    return {**result, "process_s": time.perf_counter() - began}


def _predict(
    project: Project,
    python: Path,
    script: Path,
    request: Mapping[str, Any],
    inputs: Inputs,
    settings: Settings,
    progress: Progress,
    runtime_index: int = 0,
) -> Any:
    done_before = settings.load_runs + runtime_index * len(settings.batch_sizes)
    what = "predict" if runtime_index == 0 else "compiled predict"
    position = {size: index for index, size in enumerate(settings.batch_sizes)}
    timings: dict[int, int] = {}

    def on_event(event: Mapping[str, Any]) -> None:
        size = event.get("batch_size")
        if not isinstance(size, int) or size not in position:
            return
        if event.get("step") == "value":
            timings[size] = timings.get(size, 0) + 1
        count = timings.get(size, 0)
        progress(
            f"timing {what}, batch of {size} ({count} timed loops)",
            done_before + position[size],
        )

    predict_request = {
        **request,
        "rows": inputs.rows,
        "batch_sizes": list(settings.batch_sizes),
        "runs": settings.runs,
        "values": settings.values,
        "warmups": settings.warmups,
        "min_time_s": settings.min_time_s,
    }
    return _run(project, python, script, "predict", predict_request, on_event)


def _run(
    project: Project,
    python: Path,
    script: Path,
    mode: str,
    request: Mapping[str, Any],
    on_event: Callable[[Mapping[str, Any]], None] | None = None,
) -> Any:
    try:
        return process.run(python, script, mode, request, project.root, on_event)
    except process.RunnerFailure as failure:
        raise UserError(_failure_message(failure, project, python, request)) from None


def _failure_message(
    failure: process.RunnerFailure, project: Project, python: Path, request: Mapping[str, Any]
) -> str:
    model = f"{request['model_name']} {request['version']}"
    if failure.kind == "registry":
        return f"cannot load {model}: {failure}"
    if failure.kind == "invalid_input":
        return f"{model}: {failure}"
    if failure.kind == "import":
        return (
            f"{python}: {failure}; reinstall the project there (`{_install_hint(project, python)}`)"
        )
    return str(failure)


def _install_hint(project: Project, python: Path) -> str:
    return f"uv pip install --python {python} -e '{project.root}[dev]'"


def _older(version: str, minimum: str) -> bool:
    def parts(text: str) -> tuple[int, ...]:
        numbers = []
        for part in text.split(".")[:2]:
            digits = "".join(c for c in part if c.isdigit())
            numbers.append(int(digits or 0))
        return tuple(numbers)

    return parts(version) < parts(minimum)
