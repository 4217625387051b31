"""The project's command line: train model versions, list them, switch the served one."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import semver

from .batch import ENGINES
from .batch.source import BatchError
from .drift import DriftError
from .logging import training_progress
from .model import registry, selection
from .model.errors import RegistryError
from .model.manifest import Manifest, read_manifest
from .model.predictor import Predictor
from .model.registry import manifest_path
from .model.thresholds import Thresholds, ThresholdsError
from .model.train import (
    DEFAULT_SEED,
    DatasetError,
    ProjectConfig,
    ProjectConfigError,
    data_config,
    evaluate,
    find_project_config,
    train,
)
from .settings import Settings, SettingsError
from .tracking import TrackingError, require_client, tracking_uri
from .tracking.data_version import DataVersionError

PROG = "{{ cookiecutter.__project_slug }}"
RELOAD_TRIGGER = Path("models") / ".reload"
"""The file ``touch-chain-reload`` in uwsgi.ini watches, relative to the project."""

_USER_ERRORS = (
    BatchError,
    DatasetError,
    DataVersionError,
    DriftError,
    ProjectConfigError,
    RegistryError,
    SettingsError,
    ThresholdsError,
    TrackingError,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (user errors: one line on stderr, 1)."""
    args = _parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except _USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


# train -----------------------------------------------------------------------------------


def _train(args: argparse.Namespace) -> int:
    project = find_project_config()
    data = data_config(project)
    if args.data:
        data = dataclasses.replace(data, path=args.data.resolve())
    shown = _shortest(data.path)
    if args.dry_run:
        with training_progress(sys.stderr):
            result = evaluate(project, data=data, seed=args.seed)
        print(f"Evaluated {project.model_name} on {shown} (dry run: nothing registered)")
        _print_metrics(result.metrics)
        if result.violations:
            print(f"  {'thresholds':<10} NOT met: {'; '.join(result.violations)}")
            return 1
        print(f"  {'thresholds':<10} {_met(project.thresholds)}")
        return 0
    models_dir = _models_dir(args, project)
    uri = tracking_uri(args.tracking_uri)
    if uri:
        require_client(uri)
    with training_progress(sys.stderr):  # a network's epochs (see logging.py)
        manifest = train(
            project, models_dir, data=data, seed=args.seed, allow_dirty_data=args.allow_dirty_data
        )
    print(f"Trained {manifest.name} {manifest.version} on {shown}")
    _print_metrics(manifest.metrics)
    print(f"  {'thresholds':<10} {_met(project.thresholds)}")
    print(f"  {'artifact':<10} {models_dir / manifest.artifact.file}")
    if manifest.compiled is not None:
        compiled = manifest.compiled
        print(
            f"  {'compiled':<10} {models_dir / compiled.file} ({compiled.precision}, "
            f"{compiled.rows_checked} rows answered alike, largest difference "
            f"{compiled.max_difference:.2g})"
        )
    else:
        print(f"  {'compiled':<10} none: {manifest.not_compiled}")
    print(f"  {'manifest':<10} {manifest_path(models_dir, manifest.name, manifest.version)}")
    if uri:
        from .tracking.runs import after_training

        served, _ = _would_serve(models_dir, manifest.name)
        _tracked(*after_training(models_dir, manifest, uri, served))
    return 0


def _tracked(ok: bool, line: str) -> None:
    """The tracker's line: with the output when it worked, on stderr when it failed."""
    print(line, file=sys.stdout if ok else sys.stderr)


def _print_metrics(metrics: dict[str, float]) -> None:
    for metric, value in metrics.items():
        print(f"  {metric:<10} {value:.4f}")


def _met(thresholds: Thresholds) -> str:
    if not thresholds.bounds:
        return f"none set ({thresholds.source})"
    return f"met: {thresholds.describe()} ({thresholds.source})"


# models ----------------------------------------------------------------------------------


def _models(args: argparse.Namespace) -> int:
    project = find_project_config()
    models_dir = _models_dir(args, project)
    name = project.model_name
    versions = registry.list_versions(models_dir, name)
    if not versions:
        print(f"No versions of {name} in {models_dir}: train one with `{PROG} train`")
        return 0
    served, served_note = _would_serve(models_dir, name)
    manifests: dict[semver.Version, Manifest | None] = {}
    refusals: dict[semver.Version, str] = {}
    for version in versions:
        manifests[version], refusal = _checked(models_dir, project, version)
        if refusal:
            refusals[version] = refusal
    readable = [manifest for manifest in manifests.values() if manifest]
    metrics = list(dict.fromkeys(key for manifest in readable for key in manifest.metrics))
    rows = [["", "VERSION", "CREATED (UTC)", *(m.upper() for m in metrics), "GATES"]]
    for version in versions:
        manifest = manifests[version]
        rows.append(
            [
                "*" if version == served else "",
                str(version),
                _created(manifest),
                *(_metric(manifest, metric) for metric in metrics),
                "REFUSED" if version in refusals else "ok",
            ]
        )
    _print_table(rows)
    print(served_note)
    print(f"thresholds: {project.thresholds.describe()} ({project.thresholds.source})")
    for version, refusal in refusals.items():
        print(f"{version} refused: {refusal}")
    return 0


def _would_serve(models_dir: Path, name: str) -> tuple[semver.Version | None, str]:
    """The version a server started now, in this environment, would serve; and why."""
    own = {key: value for key, value in os.environ.items() if key == "MODEL_VERSION"}
    configured = Settings.from_env(own).model_version
    try:
        choice = selection.choose(models_dir, configured)
    except RegistryError as exc:
        return None, f"served: none, a server would not start: {exc}"
    if choice.source != "MODEL_VERSION":
        reason = f"{choice.requested}, named in {choice.source} (it overrides MODEL_VERSION)"
    elif "MODEL_VERSION" in os.environ:
        reason = f"MODEL_VERSION={configured}"
    else:
        reason = f"MODEL_VERSION unset, so {registry.LATEST}"
    if choice.requested == registry.LATEST:
        reason += " (the highest release)"
    try:
        version = registry.resolve_version(models_dir, name, choice.requested)
    except RegistryError as exc:
        return None, f"served: none, a server would not start: {reason}: {exc}"
    return version, f"* served: {reason}"


def _checked(
    models_dir: Path, project: ProjectConfig, version: semver.Version
) -> tuple[Manifest | None, str | None]:
    """The version's manifest (None if unreadable) and why the gates refuse it, if they do."""
    name = project.model_name
    try:
        return registry.check(models_dir, name, version, Predictor, project.thresholds), None
    except RegistryError as exc:
        refusal = str(exc)
    try:
        manifest = read_manifest(manifest_path(models_dir, name, version))
    except RegistryError:
        manifest = None
    return manifest, refusal


def _created(manifest: Manifest | None) -> str:
    if manifest is None:
        return "?"
    try:
        return datetime.fromisoformat(manifest.created_at).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return manifest.created_at


def _metric(manifest: Manifest | None, metric: str) -> str:
    value = manifest.metrics.get(metric) if manifest else None
    return "-" if value is None else f"{value:.4f}"


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


# serve-version ---------------------------------------------------------------------------


def _serve_version(args: argparse.Namespace) -> int:
    project = find_project_config()
    models_dir = _models_dir(args, project)
    version = registry.parse_version(args.version)
    # The very checks and load a worker runs at start: a worker that fails them during
    # the chain reload would stop the whole server (need-app), so refuse here instead.
    loaded = registry.load(
        models_dir, project.model_name, str(version), Predictor, project.thresholds
    )
    trigger = _shortest(project.root / RELOAD_TRIGGER)
    previous = _read_choice(selection.serving_path(models_dir))
    choice_file = selection.record_choice(models_dir, version)
    try:
        selection.touch_trigger(trigger)
    except OSError as exc:
        _restore_choice(choice_file, previous)
        raise RegistryError(
            f"cannot touch {trigger} ({exc.strerror or exc}); {choice_file} left as it was"
        ) from None
    print(f"Serving {loaded.manifest.name} {loaded.manifest.version}")
    print(f"  {'recorded':<10} {choice_file} (overrides MODEL_VERSION)")
    print(f"  {'reload':<10} touched {trigger}: uWSGI replaces its workers one at a time")
    if uri := tracking_uri():
        from .tracking.runs import after_switch

        _tracked(*after_switch(project.model_name, version, uri))
    return 0


def _read_choice(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _restore_choice(path: Path, previous: str | None) -> None:
    if previous is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(previous, encoding="utf-8")


# runs ------------------------------------------------------------------------------------


def _runs(args: argparse.Namespace) -> int:
    from .tracking import runs

    project = find_project_config()
    models_dir = _models_dir(args, project)
    name = project.model_name
    uri = tracking_uri(args.tracking_uri)
    if args.limit < 1:
        raise TrackingError(f"--limit must be a positive number of runs, got {args.limit}")
    if args.action == "sync":
        if uri is None:
            raise TrackingError(
                "runs sync needs a tracker: set MLFLOW_TRACKING_URI or pass --tracking-uri"
            )
        served, _ = _would_serve(models_dir, name)
        print("\n".join(runs.sync(models_dir, name, uri, served)))
        return 0
    listing = runs.list_runs(models_dir, name, uri, args.limit)
    if not listing.rows:
        print(f"No runs of {name} in {listing.source}: train one with `{PROG} train`")
    else:
        metrics = list(dict.fromkeys(key for row in listing.rows for key in row.metrics))
        table = [["VERSION", "TRAINED (UTC)", *(m.upper() for m in metrics), "RUN"]]
        for row in listing.rows:
            values = (row.metrics.get(m) for m in metrics)
            table.append(
                [
                    row.version,
                    row.started.strftime("%Y-%m-%d %H:%M:%S"),
                    *("-" if value is None else f"{value:.4f}" for value in values),
                    row.run_id or "-",
                ]
            )
        _print_table(table)
        print(f"from {listing.source}")
    if listing.missing:
        print(f"not in the tracker: {', '.join(listing.missing)}; run `{PROG} runs sync`")
    return 0


# predict-batch ---------------------------------------------------------------------------


def _predict_batch(args: argparse.Namespace) -> int:
    try:
        from .batch import run
    except ModuleNotFoundError as exc:  # rows are validated with the API's request schema
        raise BatchError(
            f"predict-batch needs the api extra ({exc.name} is missing): pip install -e '.[api]'"
        ) from None

    if args.ttl is not None and args.ttl < 1:
        raise BatchError(f"--ttl must be a positive number of seconds, got {args.ttl}")
    if args.ttl is not None and not args.to:
        raise BatchError("--ttl needs --to: it is how long stored predictions live")
    if args.master and args.engine != "spark":
        raise BatchError("--master needs --engine spark")
    project = find_project_config()
    models_dir = _models_dir(args, project)
    # The model a server started now would serve: its version (unless --model-version)
    # and its runtime (MODEL_RUNTIME: the compiled model under auto when it has one).
    own = {k: v for k, v in os.environ.items() if k in ("MODEL_VERSION", "MODEL_RUNTIME")}
    settings = Settings.from_env(own)
    if args.model_version:
        loaded = registry.load_served(
            models_dir,
            project.model_name,
            args.model_version,
            Predictor,
            project.thresholds,
            settings.model_runtime,
        )
    else:
        loaded, _ = selection.load_chosen(
            models_dir,
            project.model_name,
            settings.model_version,
            Predictor,
            project.root / "pyproject.toml",
            runtime=settings.model_runtime,
        )
    options = run.BatchOptions(
        input=args.input,
        output=args.output,
        id_column=args.id_column,
        engine=args.engine,
        master=args.master,
        store_url=args.to,
        ttl=args.ttl,
        overwrite=args.overwrite,
    )
    progress = _progress if sys.stderr.isatty() and not args.json else None
    summary = run.run(loaded, models_dir, options, progress)
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(summary.line())
    return 0


def _progress(rows: int, seconds: float) -> None:
    rate = rows / seconds if seconds > 0 else 0.0
    print(f"\r  {rows:>12,} rows  {rate:>10,.0f} rows/s  {seconds:7.1f} s", end="", file=sys.stderr)


# drift -----------------------------------------------------------------------------------


def _drift(args: argparse.Namespace) -> int:
    from . import drift

    project = find_project_config()
    models_dir = _models_dir(args, project)
    source: Path = args.source
    if not source.is_file():
        raise DriftError(f"{source}: no such file; give a service log or a CSV/Parquet file")
    observed = None
    version = args.model_version
    if not drift.is_data_file(source):
        observed = drift.read_log(source, version)
        version = version or observed.versions.most_common(1)[0][0]
    elif version is None:
        served, note = _would_serve(models_dir, project.model_name)
        if served is None:
            raise DriftError(f"no model version to compare against ({note}); use --model-version")
        version = str(served)
    manifest = read_manifest(manifest_path(models_dir, project.model_name, version))
    if observed is None:
        observed = drift.read_data(source, manifest)
    result = drift.report(str(source), manifest, observed)
    if args.html:
        assert manifest.profile is not None  # report() refuses a manifest without one
        args.html.write_text(drift.html_report(result, manifest.profile), encoding="utf-8")
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.table())
        if args.html:
            print(f"HTML report: {args.html}")
    return 0


# shared ----------------------------------------------------------------------------------


def _models_dir(args: argparse.Namespace, project: ProjectConfig) -> Path:
    return args.models_dir or _shortest(project.root / "models")


def _shortest(path: Path) -> Path:
    """``path`` relative to the current directory when that is shorter, else as it is."""
    relative = Path(os.path.relpath(path))
    return relative if len(str(relative)) < len(str(path)) else path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    models_dir_help = "the model registry directory (default: models in the project)"

    train_parser = commands.add_parser(
        "train",
        help="train the model version named in pyproject.toml and register it",
        description="Train the model version named in [tool.mlprod] of pyproject.toml on "
        "the data in [tool.mlprod.data], evaluate it on held-out rows, check "
        "[tool.mlprod.thresholds] and write its artifact and manifest.",
    )
    train_parser.add_argument(
        "--data",
        type=Path,
        help="another CSV or Parquet file with the same columns (default: [tool.mlprod.data] path)",
    )
    train_parser.add_argument(
        "--dry-run",
        action="store_true",
        help="fit and evaluate only: print the metrics, register nothing, use no version",
    )
    train_parser.add_argument("--models-dir", type=Path, help=models_dir_help)
    train_parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)"
    )
    train_parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="also log the run to this MLflow tracker (default: MLFLOW_TRACKING_URI; "
        "needs the tracking extra)",
    )
    train_parser.add_argument(
        "--allow-dirty-data",
        action="store_true",
        help="train on data under DVC that differs from its .dvc file (no DVC hash recorded)",
    )
    train_parser.set_defaults(command=_train)

    models_parser = commands.add_parser(
        "models",
        help="list the registered versions, newest first, marking the one served",
        description="List the versions in the registry, newest first, with their creation "
        "time, metrics and whether they pass the gates; * marks the version a server "
        "started now would serve (models/SERVING, else MODEL_VERSION, else latest).",
    )
    models_parser.add_argument("--models-dir", type=Path, help=models_dir_help)
    models_parser.set_defaults(command=_models)

    serve_parser = commands.add_parser(
        "serve-version",
        help="switch a running server to VERSION, without downtime",
        description="Check that VERSION passes every gate and loads, record it in "
        "models/SERVING (which overrides MODEL_VERSION) and touch models/.reload, so that "
        "a running uWSGI replaces its workers one at a time. A refused version changes "
        "nothing.",
    )
    serve_parser.add_argument("version", metavar="VERSION", help="an exact version, e.g. 0.1.0")
    serve_parser.add_argument("--models-dir", type=Path, help=models_dir_help)
    serve_parser.set_defaults(command=_serve_version)

    runs_parser = commands.add_parser(
        "runs",
        help="list recent runs with their metrics, or sync them to the tracker",
        description="List the model's recent runs, newest first, with their metrics: from "
        "the MLflow tracker when MLFLOW_TRACKING_URI (or --tracking-uri) is set, else from "
        "the manifests in the models directory. `runs sync` logs every registered version "
        "the tracker misses and points its serving alias at the version a server would serve.",
    )
    runs_parser.add_argument(
        "action", nargs="?", choices=["sync"], help="sync: log what the tracker missed"
    )
    runs_parser.add_argument("--tracking-uri", metavar="URI", help="the MLflow tracker")
    runs_parser.add_argument(
        "--limit", type=int, default=20, help="runs to list (default: %(default)s)"
    )
    runs_parser.add_argument("--models-dir", type=Path, help=models_dir_help)
    runs_parser.set_defaults(command=_runs)

    batch_parser = commands.add_parser(
        "predict-batch",
        help="score a CSV or Parquet file into another, locally or on Spark",
        description="Score every row of INPUT (CSV or Parquet, read in chunks) with the "
        "served model version (or --model-version), validated as the API validates a "
        "request, into OUTPUT (Parquet or CSV, by its suffix). Rows that fail validation "
        "go to OUTPUT's rejects file (e.g. scores.rejects.parquet) with the reason. Nothing "
        "is written unless the run completes; an existing OUTPUT is kept unless --overwrite.",
    )
    batch_parser.add_argument("input", metavar="INPUT", type=Path, help="a CSV or Parquet file")
    batch_parser.add_argument(
        "output", metavar="OUTPUT", type=Path, help="the .parquet or .csv file to write"
    )
    batch_parser.add_argument(
        "--model-version", help="an exact version (default: the one a server would serve)"
    )
    batch_parser.add_argument(
        "--id-column", help="a column of INPUT that identifies rows, copied to the output"
    )
    batch_parser.add_argument(
        "--engine", choices=ENGINES, default="local", help="where to score (default: local)"
    )
    batch_parser.add_argument(
        "--master", help="the Spark master, e.g. spark://host:7077 (default: local[*])"
    )
    batch_parser.add_argument(
        "--to",
        metavar="URL",
        help="also store the predictions in Redis (redis://HOST:PORT/DB), where the API's "
        "PREDICTION_STORE finds them",
    )
    batch_parser.add_argument(
        "--ttl", type=int, help="seconds before stored predictions expire (default: never)"
    )
    batch_parser.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT and its rejects file"
    )
    batch_parser.add_argument(
        "--json", action="store_true", help="print the summary as JSON (no progress)"
    )
    batch_parser.add_argument("--models-dir", type=Path, help=models_dir_help)
    batch_parser.set_defaults(command=_predict_batch)

    drift_parser = commands.add_parser(
        "drift",
        help="score drift per feature: a service log or a data file against the training profile",
        description="Compare the instances in SOURCE (the service's JSON log, whose prediction "
        "lines carry their inputs, or a CSV/Parquet file with the model's features) with the "
        "training profile in the model's manifest: PSI per feature (and for the predictions, "
        "from a log), its threshold, and a status (stable, moderate, drifted).",
    )
    drift_parser.add_argument(
        "source", metavar="LOGS|FILE", type=Path, help="a JSON-lines log, or a .csv/.parquet file"
    )
    drift_parser.add_argument(
        "--model-version",
        help="the version whose profile to compare with (default: the one most logged, "
        "or for a data file the one a server would serve)",
    )
    drift_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    drift_parser.add_argument(
        "--html", type=Path, metavar="PATH", help="also write an HTML report with plots to PATH"
    )
    drift_parser.add_argument("--models-dir", type=Path, help=models_dir_help)
    drift_parser.set_defaults(command=_drift)
    return parser


if __name__ == "__main__":
    sys.exit(main())
