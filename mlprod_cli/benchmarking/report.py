"""The benchmark's tables, printed with Rich (imported only by `mlprod benchmark`).

Figures are formatted by `mlprod_cli.console`, as every command prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from mlprod_cli.benchmarking.compare import Comparison
from mlprod_cli.benchmarking.settings import format_percent
from mlprod_cli.console import format_duration, format_rate, format_size


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        return format_duration(value)
    if unit == "bytes":
        return format_size(value)
    return format_rate(value)


def result(document: Mapping[str, Any]) -> Group:
    """The whole result: what was measured, load and memory, latency per batch size."""
    return Group(
        _heading(document),
        Text(""),
        _load_table(document),
        Text(""),
        _predict_table(document),
        *_runtimes_table(document),
        *_warnings(document),
    )


def comparison(changes: Comparison) -> Group:
    """The change of every figure, its p-value and verdict, and the set-up differences."""
    limit = format_percent(changes.max_regression)
    table = Table(
        box=box.SIMPLE_HEAD,
        caption=Text(
            f"A figure regresses when worse by more than {limit} and "
            "significant (Mann-Whitney U, p < 0.05); p 'n/a': too few samples to test, "
            "the threshold decides."
        ),
        caption_justify="left",
    )
    for name, justify in (
        ("figure", "left"),
        ("baseline", "right"),
        ("now", "right"),
        ("change", "right"),
        ("p", "right"),
        ("verdict", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for change in changes.changes:
        table.add_row(
            change.label,
            format_value(change.baseline, change.unit),
            format_value(change.current, change.unit),
            "n/a" if change.relative is None else f"{change.relative:+.1%}",
            _p(change.p_value),
            Text(change.verdict, style="bold red" if change.regressed else ""),
        )
    notes = [Text(f"Note: {note}") for note in changes.notes]
    return Group(table, *notes)


def _heading(document: Mapping[str, Any]) -> Text:
    model = document["model"]
    environment = document["environment"]
    cpu = environment["cpu"]
    inputs = document["settings"]["inputs"]
    pools = environment["thread_env"]
    threads = (
        "native thread pools pinned to one thread"
        if set(pools.values()) == {"1"}
        else "native thread pools: " + ", ".join(f"{k}={v}" for k, v in pools.items())
    )
    lines = [
        f"{model['name']} {model['version']} ({model['framework']} {model['framework_version']})"
        f" on Python {environment['python']['version']}",
        f"CPU: {cpu['model']}, {cpu['usable_cores']} usable cores; {threads}",
        f"Inputs: {inputs['rows']} rows from {inputs['source']}, repeated to fill each batch",
    ]
    return Text("\n".join(lines))


def _load_table(document: Mapping[str, Any]) -> Table:
    load = document["load"]
    memory = document["memory"]
    table = Table(
        box=box.SIMPLE_HEAD,
        title=Text(f"Load, {load['runs']} fresh processes"),
        title_justify="left",
    )
    table.add_column("figure")
    table.add_column("mean ± sd", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    for key, label, unit in (
        ("load_s", "load (hash check + deserialize)", "s"),
        ("import_s", "import the model layer", "s"),
        ("process_s", "whole fresh process", "s"),
        ("model_rss_bytes", "memory the model adds (RSS)", "bytes"),
        ("model_heap_bytes", "memory the model holds (heap)", "bytes"),
    ):
        summary = load[key]["summary"]
        if summary is None:
            table.add_row(label, "not measurable here", "", "")
            continue
        table.add_row(
            label,
            f"{format_value(summary['mean'], unit)} ± {format_value(summary['stdev'], unit)}",
            format_value(summary["min"], unit),
            format_value(summary["max"], unit),
        )
    peak = memory["peak_rss_bytes"]
    table.add_row(
        "peak memory (RSS, predicting)", "unknown" if peak is None else format_size(peak), "", ""
    )
    return table


def _predict_table(document: Mapping[str, Any]) -> Table:
    settings = document["settings"]
    table = Table(
        box=box.SIMPLE_HEAD,
        title=Text("Predict latency per batch"),
        title_justify="left",
        caption=Text(
            f"mean ± sd: pyperf, {settings['runs']} runs x {settings['values']} values, each "
            f"value a loop of calls calibrated to at least {settings['min_time_s']:g} s "
            f"(after {settings['warmups']} warm-up); p50, p99: single calls timed one by one."
        ),
        caption_justify="left",
    )
    for name in ("batch", "mean ± sd", "p50", "p99", "rows/s", "outliers"):
        table.add_column(name, justify="right")
    for batch in document["predict"]:
        summary = batch["latency_s"]["summary"]
        calls = batch["call_latency_s"]
        table.add_row(
            str(batch["batch_size"]),
            f"{format_duration(summary['mean'])} ± {format_duration(summary['stdev'])}",
            format_duration(calls["p50"]),
            format_duration(calls["p99"]),
            format_rate(batch["rows_per_s"]),
            f"{summary['outliers']}/{summary['n']}",
        )
    return table


def _runtimes_table(document: Mapping[str, Any]) -> list[Any]:
    """Native and compiled side by side, when the version has a compiled model."""
    compiled = document.get("compiled")
    if not compiled:
        return []
    table = Table(
        box=box.SIMPLE_HEAD,
        title=Text("Native vs compiled"),
        title_justify="left",
        caption=Text(
            f"compiled: {compiled['artifact']} in ONNX Runtime. Mean latency of each, "
            "timed alike; speedup: native / compiled."
        ),
        caption_justify="left",
    )
    for name in ("batch", "native", "compiled", "speedup"):
        table.add_column(name, justify="right")
    native = {batch["batch_size"]: batch for batch in document["predict"]}
    for batch in compiled["predict"]:
        size = batch["batch_size"]
        table.add_row(
            str(size),
            format_duration(native[size]["latency_s"]["summary"]["mean"]),
            format_duration(batch["latency_s"]["summary"]["mean"]),
            f"{compiled['speedup'][str(size)]:.1f}x",
        )
    return [Text(""), table]


def _warnings(document: Mapping[str, Any]) -> list[Text]:
    warnings = document["warnings"]
    if not warnings:
        return []
    lines = [Text(""), Text("Warning: these results may be unstable:", style="yellow")]
    lines += [Text(f"- {warning}") for warning in warnings]
    lines.append(
        Text(
            "Rerun on a quieter machine, or with more --runs or a longer --min-time; "
            "`python -m pyperf system tune` reduces system jitter."
        )
    )
    return lines


def _p(p_value: float | None) -> str:
    if p_value is None:
        return "n/a"
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def console() -> Console:
    """Standard output, without Rich's guesses at highlighting numbers and paths."""
    return Console(highlight=False)
