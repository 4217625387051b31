"""The benchmark result as a versioned JSON document; baselines kept under `benchmarks/`.

The document holds the raw samples as well as their summaries, so that a later run
can be compared with it by a significance test, not only by its means. Its shape is
`FORMAT` at `FORMAT_VERSION`; readers refuse any other, so a change of shape is a
new version. docs/commands/benchmark.md describes every field.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli.benchmarking.inputs import Inputs
from mlprod_cli.benchmarking.settings import Settings
from mlprod_cli.benchmarking.stats import percentile, stability_warnings, summarize
from mlprod_cli.errors import UserError
from mlprod_cli.project import Project
from mlprod_cli.project.models import TrainedModel

FORMAT = "mlprod-benchmark"
FORMAT_VERSION = 1
BASELINES_DIR = "benchmarks"
LOAD_FIGURES = ("import_s", "load_s", "process_s", "model_rss_bytes", "model_heap_bytes")


@dataclass(frozen=True)
class Measurement:
    """What the runner measured: its environment, each fresh load, and the predictions."""

    environment: Mapping[str, Any]
    loads: Sequence[Mapping[str, Any]]
    """One per fresh process: the runner's `load` result plus `process_s`."""
    predict: Mapping[str, Any]
    compiled: Mapping[str, Any] | None = None
    """The same predictions timed through the compiled model, when the version has one."""


def build_document(
    *,
    project: Project,
    model: TrainedModel,
    inputs: Inputs,
    settings: Settings,
    measurement: Measurement,
    thread_env: Mapping[str, str],
    mlprod_version: str,
    created_at: str,
) -> dict[str, Any]:
    """The result document: settings, environment, samples, summaries and warnings."""
    manifest = model.manifest
    environment = measurement.environment
    load = _load_section(measurement.loads)
    predict = [_batch_section(batch) for batch in measurement.predict["batches"]]
    warnings = [
        f"{subject}: {'; '.join(found)}"
        for subject, found in [
            ("load time", stability_warnings(_summary_of(load["load_s"]))),
            *((f"batch {b['batch_size']}", b["warnings"]) for b in predict),
        ]
        if found
    ]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": created_at,
        "mlprod_version": mlprod_version,
        "project": {"name": project.slug, "package": project.package},
        "model": {
            "name": model.name,
            "version": model.version,
            "framework": manifest.get("framework"),
            "framework_version": manifest.get("framework_version"),
            "artifact": manifest.get("artifact", {}).get("file"),
            "artifact_sha256": manifest.get("artifact", {}).get("sha256"),
        },
        "environment": {
            "python": environment["python"],
            "platform": environment["platform"],
            "cpu": environment["cpu"],
            "libraries": environment["libraries"],
            "thread_env": dict(thread_env),
        },
        "settings": {
            **settings.to_dict(),
            "call_budget_s": settings.call_budget_s,
            "method": (
                f"pyperf {environment['pyperf']} in process: per batch size, {settings.runs} "
                f"runs of {settings.warmups} warm-up and {settings.values} values, each value "
                f"a loop of predict calls calibrated to at least {settings.min_time_s:g} s; "
                f"load time over {settings.load_runs} fresh processes"
            ),
            "inputs": {"source": inputs.source, "rows": len(inputs.rows)},
        },
        "load": load,
        "predict": predict,
        "compiled": _compiled_section(manifest, predict, measurement.compiled),
        "memory": {
            "peak_rss_bytes": measurement.predict.get("peak_rss_bytes"),
            "model_rss_bytes": _mean_or_none(load["model_rss_bytes"]),
            "model_heap_bytes": _mean_or_none(load["model_heap_bytes"]),
        },
        "warnings": warnings,
    }


def read_document(path: Path, option: str) -> dict[str, Any]:
    """A document written by `--json` or `--save-baseline`; refuse anything else."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{option} {path} does not exist") from None
    except OSError as error:
        raise UserError(f"cannot read {option} {path}: {error.strerror or error}") from None
    except ValueError:
        raise UserError(f"{option} {path} is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{option} {path} is not an mlprod benchmark result")
    if data.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{option} {path} is a benchmark result of format version "
            f"{data.get('format_version')!r}; this mlprod reads version {FORMAT_VERSION}"
        )
    try:
        _check_shape(data)
    except (KeyError, TypeError, ValueError) as error:
        detail = f"no {error.args[0]}" if isinstance(error, KeyError) else str(error)
        raise UserError(f"{option} {path} is an incomplete benchmark result: {detail}") from None
    return data


def write_document(path: Path, document: Mapping[str, Any]) -> None:
    """Write `document` to `path` whole or not at all (a temporary file renamed into place)."""
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


def baseline_path(root: Path, model_name: str, version: str) -> Path:
    """Where `--save-baseline` keeps a version's result: `benchmarks/<name>-<version>.json`."""
    return root / BASELINES_DIR / f"{model_name}-{version}.json"


def previous_baseline(root: Path, model_name: str, version: str) -> Path:
    """The saved baseline of the highest model version below `version`."""
    import semver

    folder = root / BASELINES_DIR
    if not semver.Version.is_valid(version):
        raise UserError(f"{model_name} {version!r} is not a semantic version: pass --baseline PATH")
    current = semver.Version.parse(version)
    prefix = f"{model_name}-"
    saved = []
    for path in folder.glob(f"{prefix}*.json"):
        stem = path.stem.removeprefix(prefix)
        if semver.Version.is_valid(stem):
            saved.append((semver.Version.parse(stem), path))
    earlier = sorted((item for item in saved if item[0] < current), reverse=True)
    if not earlier:
        found = ", ".join(str(v) for v, _ in sorted(saved)) or "none"
        raise UserError(
            f"no baseline of a {model_name} version before {version} in {folder} "
            f"(saved: {found}); save one with --save-baseline while benchmarking that version, "
            "or pass --baseline PATH"
        )
    return earlier[0][1]


def _load_section(loads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    section: dict[str, Any] = {"runs": len(loads)}
    for figure in LOAD_FIGURES:
        samples = [load[figure] for load in loads]
        if any(value is None for value in samples):
            section[figure] = {"samples": [], "summary": None}  # not measurable here
        else:
            section[figure] = {"samples": samples, "summary": summarize(samples).to_dict()}
    return section


def _batch_section(batch: Mapping[str, Any]) -> dict[str, Any]:
    size = batch["batch_size"]
    values = batch["values_s"]
    calls = batch["call_s"]
    summary = summarize(values)
    shortest_raw = summary.min * batch["loops"]
    return {
        "batch_size": size,
        "loops": batch["loops"],
        "latency_s": {"samples": values, "summary": summary.to_dict()},
        "rows_per_s": size / summary.mean,
        "call_latency_s": {
            "n": len(calls),
            "p50": percentile(calls, 50),
            "p90": percentile(calls, 90),
            "p99": percentile(calls, 99),
            "max": max(calls),
        },
        "warnings": stability_warnings(summary, shortest_raw),
    }


def _compiled_section(
    manifest: Mapping[str, Any],
    native: Sequence[Mapping[str, Any]],
    compiled: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """The compiled model's batches beside the native ones: ``speedup`` is native's mean
    latency over compiled's, per batch size."""
    if compiled is None:
        return None
    batches = [_batch_section(batch) for batch in compiled["batches"]]
    means = {b["batch_size"]: b["latency_s"]["summary"]["mean"] for b in native}
    return {
        "artifact": manifest.get("compiled", {}).get("file"),
        "precision": manifest.get("compiled", {}).get("precision"),
        "predict": batches,
        "speedup": {
            str(b["batch_size"]): means[b["batch_size"]] / b["latency_s"]["summary"]["mean"]
            for b in batches
        },
    }


def _summary_of(figure: Mapping[str, Any]) -> Any:
    return summarize(figure["samples"])


def _mean_or_none(figure: Mapping[str, Any]) -> float | None:
    summary = figure["summary"]
    return None if summary is None else summary["mean"]


_REQUIRED = (
    ("project", "name"),
    ("model", "framework"),
    ("model", "framework_version"),
    ("environment", "python", "version"),
    ("environment", "cpu", "model"),
    ("environment", "cpu", "usable_cores"),
    ("environment", "libraries"),
    ("environment", "thread_env"),
    ("settings", "runs"),
    ("settings", "values"),
    ("settings", "warmups"),
    ("settings", "min_time_s"),
    ("settings", "load_runs"),
    ("settings", "inputs", "source"),
    ("settings", "inputs", "rows"),
    ("load", "runs"),
    ("warnings",),
)
_BATCH_REQUIRED = (
    ("loops",),
    ("rows_per_s",),
    ("latency_s", "summary", "mean"),
    ("latency_s", "summary", "stdev"),
    ("latency_s", "summary", "n"),
    ("latency_s", "summary", "outliers"),
    ("call_latency_s", "p50"),
    ("call_latency_s", "p99"),
)


def _check_shape(data: Mapping[str, Any]) -> None:
    """The fields the tables and a comparison read, with the types a comparison expects."""
    for path in _REQUIRED:
        _at(data, path)
    for key in ("name", "version"):
        if not isinstance(_at(data, ("model", key)), str):
            raise ValueError(f"model.{key} is not a string")
    for figure in LOAD_FIGURES:
        _numbers(_at(data, ("load", figure, "samples")), f"load.{figure}")
        _at(data, ("load", figure, "summary"))
    for batch in _at(data, ("predict",)):
        if not isinstance(_at(batch, ("batch_size",)), int):
            raise ValueError("a batch size is not a whole number")
        if not _numbers(_at(batch, ("latency_s", "samples")), "latency"):
            raise ValueError(f"batch {batch['batch_size']} has no latency samples")
        for path in _BATCH_REQUIRED:
            _at(batch, path)
    peak = _at(data, ("memory", "peak_rss_bytes"))
    if peak is not None and not isinstance(peak, int | float):
        raise ValueError("memory.peak_rss_bytes is not a number")


def _at(data: Any, path: tuple[str, ...]) -> Any:
    """The value at `path`; `KeyError` naming the whole path when it is missing."""
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            raise KeyError(".".join(path))
        data = data[key]
    return data


def _numbers(values: Any, what: str) -> list[float]:
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"{what} samples are not a list of numbers")
    return values
