"""`mlprod benchmark`: the model alone, in the project's environment, against a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlprod_cli.commands.options import ProjectOption, PythonOption, option


def benchmark(
    project_dir: ProjectOption = None,
    python: PythonOption = None,
    model_version: Annotated[
        str | None,
        option(help="The trained version to measure (default: model_version in pyproject.toml)."),
    ] = None,
    batch_sizes: Annotated[
        str | None,
        option(
            metavar="N,N,...", help="Rows per predict call, comma-separated. [default: 1,8,64,512]"
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        option(
            "--json", help="Also write the result, every figure and sample, as a JSON document."
        ),
    ] = None,
    save_baseline: Annotated[
        bool,
        option(
            "--save-baseline",
            help="Keep the result as benchmarks/<model-name>-<version>.json in the project.",
        ),
    ] = False,
    compare: Annotated[
        bool,
        option("--compare", help="Compare with the saved baseline of the previous model version."),
    ] = False,
    baseline: Annotated[
        Path | None, option(help="Compare with this saved result instead (implies --compare).")
    ] = None,
    max_regression: Annotated[
        str,
        option(
            metavar="PERCENT",
            help="A figure worse than the baseline by more than this, "
            "significantly, fails with exit code 3. [default: 10%]",
        ),
    ] = "10%",
    runs: Annotated[
        int | None,
        option(help="pyperf runs per batch size, each 1 warm-up and 3 values. [default: 10]"),
    ] = None,
    load_runs: Annotated[
        int | None,
        option(help="Fresh processes that load the model, for the load time. [default: 5]"),
    ] = None,
    min_time: Annotated[
        float | None,
        option(
            metavar="SECONDS",
            help="Shortest timed loop: pyperf calibrates the loops to last "
            "this long. [default: 0.1]",
        ),
    ] = None,
    from_json: Annotated[
        Path | None,
        option(help="Measure nothing: read a result written by --json (to compare or save it)."),
    ] = None,
) -> None:
    """Measure the model alone: load time, latency per batch size, rows/s, memory.

    It runs in the project's own environment (.venv or --python), through the
    project's registry (hash-checked), with inputs from the model's input schema and
    the project's data. Exit codes: 0 done; 1 a mistake (one line on stderr); 2 a
    usage error; 3 a figure regressed beyond --max-regression.
    """
    from mlprod_cli import console
    from mlprod_cli.benchmarking import compare as comparing
    from mlprod_cli.benchmarking import report
    from mlprod_cli.benchmarking.plan import Options, plan

    work = plan(
        Options(
            project_dir=project_dir, python=python, model_version=model_version,
            batch_sizes=batch_sizes, json_path=json_path, save_baseline=save_baseline,
            compare=compare or baseline is not None, baseline=baseline,
            max_regression=max_regression, runs=runs, load_runs=load_runs, min_time=min_time,
            from_json=from_json,
        )
    )  # fmt: skip
    if work.measured is None:
        document = work.read_result()
    else:
        with console.progress(work.total_steps) as advance:
            document = work.run_measurement(advance)
    report.console().print(report.result(document))
    for path in work.write_outputs(document):
        typer.echo(f"Wrote {console.shown(path)}")
    if work.baseline is not None:
        comparison = work.compare_with_baseline(document)
        typer.echo(f"\nCompared with {console.shown(work.baseline.path)}")
        report.console().print(report.comparison(comparison))
        typer.echo(comparing.verdict(comparison))
