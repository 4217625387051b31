"""`mlprod benchmark`: the model alone, in the project's environment, against a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlprod_cli.commands.options import ProjectOption
from mlprod_cli.errors import UserError, reported

if TYPE_CHECKING:
    from mlprod_cli.benchmarking.plan import Work

REGRESSION_EXIT_CODE = 3


class Regressed(UserError):
    """A figure is worse than the baseline beyond `--max-regression`: exit code 3."""

    exit_code = REGRESSION_EXIT_CODE


def benchmark(
    project_dir: ProjectOption = None,
    python: Annotated[
        Path | None,
        typer.Option(
            "--python",
            help="The interpreter of an environment the project is installed in, with its dev "
            "extra (default: the project's .venv).",
            show_default=False,
        ),
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option(
            "--model-version",
            help="The trained version to measure (default: model_version in pyproject.toml).",
            show_default=False,
        ),
    ] = None,
    batch_sizes: Annotated[
        str | None,
        typer.Option(
            "--batch-sizes",
            metavar="N,N,...",
            help="Rows per predict call, comma-separated. [default: 1,8,64,512]",
            show_default=False,
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Also write the result, every figure and sample, as a versioned JSON document.",
            show_default=False,
        ),
    ] = None,
    save_baseline: Annotated[
        bool,
        typer.Option(
            "--save-baseline",
            help="Keep the result as benchmarks/<model-name>-<version>.json in the project.",
        ),
    ] = False,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Compare with the saved baseline of the previous model version.",
        ),
    ] = False,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="Compare with this saved result instead (implies --compare).",
            show_default=False,
        ),
    ] = None,
    max_regression: Annotated[
        str,
        typer.Option(
            "--max-regression",
            metavar="PERCENT",
            help="A figure worse than the baseline by more than this, significantly, "
            f"fails with exit code {REGRESSION_EXIT_CODE}.",
        ),
    ] = "10%",
    runs: Annotated[
        int | None,
        typer.Option(
            "--runs",
            help="pyperf runs per batch size, each 1 warm-up and 3 values. [default: 10]",
            show_default=False,
        ),
    ] = None,
    load_runs: Annotated[
        int | None,
        typer.Option(
            "--load-runs",
            help="Fresh processes that load the model, for the load time. [default: 5]",
            show_default=False,
        ),
    ] = None,
    min_time: Annotated[
        float | None,
        typer.Option(
            "--min-time",
            metavar="SECONDS",
            help="Shortest timed loop: pyperf calibrates the loops to last this long. "
            "[default: 0.1]",
            show_default=False,
        ),
    ] = None,
    from_json: Annotated[
        Path | None,
        typer.Option(
            "--from-json",
            help="Measure nothing: read a result written by --json (to compare or save it).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Measure the model alone: load time, latency per batch size, rows/s, memory.

    It runs in the project's own environment (.venv or --python), through the
    project's registry (hash-checked), with inputs from the model's input schema and
    the project's data. Exit codes: 0 done; 1 a mistake (one line on stderr); 2 a
    usage error; 3 a figure regressed beyond --max-regression.
    """
    from mlprod_cli.benchmarking.plan import Options, plan

    options = Options(
        project_dir=project_dir,
        python=python,
        model_version=model_version,
        batch_sizes=batch_sizes,
        json_path=json_path,
        save_baseline=save_baseline,
        compare=compare or baseline is not None,
        baseline=baseline,
        max_regression=max_regression,
        runs=runs,
        load_runs=load_runs,
        min_time=min_time,
        from_json=from_json,
    )
    with reported():
        work = plan(options)
        document = work.read_result() if work.measured is None else _measured(work)
    _print_result(document)
    with reported():
        _write(work, document)
        _compare(work, document)


def _measured(work: Work) -> dict[str, Any]:
    """Measure with a progress display on a terminal's stderr (it disappears when done)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    with Progress(
        *columns,
        console=console,
        transient=True,
        refresh_per_second=4,
        disable=not console.is_terminal,  # a log gets no animation, and no blank line
    ) as progress:
        task = progress.add_task("starting", total=work.total_steps)

        def advance(description: str, done: int) -> None:
            progress.update(task, description=description, completed=done)

        return work.run_measurement(advance)


def _print_result(document: dict[str, Any]) -> None:
    from mlprod_cli.benchmarking import report

    report.console().print(report.result(document))


def _write(work: Work, document: dict[str, Any]) -> None:
    for path in work.write_outputs(document):
        typer.echo(f"Wrote {_shown(path)}")


def _compare(work: Work, document: dict[str, Any]) -> None:
    from mlprod_cli.benchmarking import report
    from mlprod_cli.benchmarking.settings import format_percent

    if work.baseline is None:
        return
    comparison = work.compare_with_baseline(document)
    limit = format_percent(comparison.max_regression)
    typer.echo(f"\nCompared with {_shown(work.baseline.path)}")
    report.console().print(report.comparison(comparison))
    regressed = comparison.regressions
    if regressed:
        names = "; ".join(change.label for change in regressed)
        count = f"{len(regressed)} figure{'s' if len(regressed) > 1 else ''}"
        raise Regressed(f"{count} regressed by more than {limit}: {names}")
    typer.echo(f"No figure regressed by more than {limit}.")


def _shown(path: Path) -> str:
    """`path` relative to the current folder when it is inside it, else in full."""
    here = Path.cwd().resolve()
    resolved = path.resolve()
    return str(resolved.relative_to(here)) if resolved.is_relative_to(here) else str(path)
