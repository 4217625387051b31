"""From `mlprod benchmark`'s options to the work to do, every check made first.

A mistake (an unknown version, a bad batch size, a missing interpreter or baseline,
a `--json` path that cannot be written) is found before a minute is spent measuring,
and nothing is written unless the measurement succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlprod_cli.benchmarking import compare, document, measure, process
from mlprod_cli.benchmarking.inputs import Inputs, benchmark_inputs
from mlprod_cli.benchmarking.settings import (
    DEFAULT_BATCH_SIZES,
    Settings,
    parse_batch_sizes,
    parse_percentage,
    positive_int,
    positive_seconds,
)
from mlprod_cli.errors import UserError
from mlprod_cli.project import Project, project_python, resolve_project
from mlprod_cli.project.models import TrainedModel, find_trained_model

MEASURING_OPTIONS = (
    "--python",
    "--model-version",
    "--batch-sizes",
    "--runs",
    "--load-runs",
    "--min-time",
)


@dataclass(frozen=True)
class Options:
    """The command line, as typed."""

    project_dir: Path | None = None
    python: Path | None = None
    model_version: str | None = None
    batch_sizes: str | None = None
    json_path: Path | None = None
    save_baseline: bool = False
    compare: bool = False
    baseline: Path | None = None
    max_regression: str = "10%"
    runs: int | None = None
    load_runs: int | None = None
    min_time: float | None = None
    from_json: Path | None = None


@dataclass(frozen=True)
class Measured:
    """What to measure: the project, in which interpreter, which model, fed what."""

    project: Project
    python: Path
    model: TrainedModel
    inputs: Inputs
    settings: Settings


@dataclass(frozen=True)
class Baseline:
    path: Path
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Work:
    """Everything checked; measuring (or reading), writing and comparing remain."""

    measured: Measured | None
    read: Mapping[str, Any] | None = None
    """The document given with `--from-json`, when nothing is measured."""
    json_path: Path | None = None
    baseline_target: Path | None = None
    baseline: Baseline | None = None
    max_regression: float = 0.10

    @property
    def total_steps(self) -> int:
        if self.measured is None:
            return 0
        return measure.total_steps(self.measured.settings, measure.runtimes(self.measured.model))

    def read_result(self) -> dict[str, Any]:
        """The `--from-json` document."""
        assert self.read is not None
        return dict(self.read)

    def run_measurement(self, progress: measure.Progress) -> dict[str, Any]:
        """Measure in the project's environment; the result document."""
        from mlprod_cli import __version__

        assert self.measured is not None
        m = self.measured
        measurement = measure.measure(m.project, m.python, m.model, m.inputs, m.settings, progress)
        return document.build_document(
            project=m.project,
            model=m.model,
            inputs=m.inputs,
            settings=m.settings,
            measurement=measurement,
            thread_env=process.thread_env(),
            mlprod_version=__version__,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def write_outputs(self, result: Mapping[str, Any]) -> list[Path]:
        """Write `--json` and `--save-baseline`; the paths written."""
        written = []
        for path in (self.json_path, self.baseline_target):
            if path is not None:
                document.write_document(path, result)
                written.append(path)
        return written

    def compare_with_baseline(self, result: Mapping[str, Any]) -> compare.Comparison:
        assert self.baseline is not None
        return compare.compare(self.baseline.document, result, self.max_regression)


def plan(options: Options) -> Work:
    """Check every option and find every file the work needs; raise `UserError` if one is wrong."""
    max_regression = parse_percentage(options.max_regression)
    if options.from_json is not None:
        return _plan_reading(options, max_regression)
    settings = _settings(options)
    project = resolve_project(options.project_dir)
    model = find_trained_model(project, options.model_version)
    inputs = benchmark_inputs(project, model)
    python = project_python(project, options.python)
    json_path = _json_target(options.json_path)
    baseline = _baseline(options, project, model.name, model.version)
    return Work(
        measured=Measured(
            project=project,
            python=python,
            model=model,
            inputs=inputs,
            settings=settings,
        ),
        json_path=json_path,
        baseline_target=(
            document.baseline_path(project.root, model.name, model.version)
            if options.save_baseline
            else None
        ),
        baseline=baseline,
        max_regression=max_regression,
    )


def _plan_reading(options: Options, max_regression: float) -> Work:
    given = [
        name
        for name, value in zip(
            MEASURING_OPTIONS,
            (
                options.python,
                options.model_version,
                options.batch_sizes,
                options.runs,
                options.load_runs,
                options.min_time,
            ),
            strict=True,
        )
        if value is not None
    ]
    if given:
        raise UserError(
            f"--from-json reads a result measured before; {given[0]} would change nothing, "
            "leave it out"
        )
    read = document.read_document(options.from_json, "--from-json")  # type: ignore[arg-type]
    name, version = read["model"]["name"], read["model"]["version"]
    needs_project = options.save_baseline or (options.compare and options.baseline is None)
    project = resolve_project(options.project_dir) if needs_project else None
    return Work(
        measured=None,
        read=read,
        json_path=_json_target(options.json_path),
        baseline_target=(
            document.baseline_path(project.root, name, version)
            if project is not None and options.save_baseline
            else None
        ),
        baseline=_baseline(options, project, name, version),
        max_regression=max_regression,
    )


def _settings(options: Options) -> Settings:
    defaults = Settings()
    return Settings(
        batch_sizes=(
            DEFAULT_BATCH_SIZES
            if options.batch_sizes is None
            else parse_batch_sizes(options.batch_sizes)
        ),
        runs=defaults.runs if options.runs is None else positive_int(options.runs, "--runs"),
        load_runs=(
            defaults.load_runs
            if options.load_runs is None
            else positive_int(options.load_runs, "--load-runs")
        ),
        min_time_s=(
            defaults.min_time_s
            if options.min_time is None
            else positive_seconds(options.min_time, "--min-time")
        ),
    )


def _json_target(path: Path | None) -> Path | None:
    """`--json`'s path, if its folder exists and it is not a folder itself."""
    if path is None:
        return None
    if path.is_dir():
        raise UserError(
            f"--json {path} is a folder; give a file name, e.g. {path / 'benchmark.json'}"
        )
    if not path.absolute().parent.is_dir():
        raise UserError(f"--json {path}: the folder {path.absolute().parent} does not exist")
    return path


def _baseline(
    options: Options, project: Project | None, model_name: str, version: str
) -> Baseline | None:
    if options.baseline is not None:
        return Baseline(options.baseline, document.read_document(options.baseline, "--baseline"))
    if not options.compare:
        return None
    assert project is not None
    path = document.previous_baseline(project.root, model_name, version)
    return Baseline(path, document.read_document(path, "--compare"))
