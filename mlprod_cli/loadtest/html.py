"""`--html`: one self-contained page (inline SVG and CSS, no script, nothing fetched).

Drawn from the JSON document: the summary, latency percentiles over time on a
logarithmic scale (a stall of 500 ms and a p50 of 0.5 ms fit on one chart), requests
per second over time, errors, load processes, warnings and thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from mlprod_cli.loadtest import report

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
SERIES_COLOURS = {"p50": "#1f77b4", "p99": "#d62728", "max": "#7f7f7f", "rps": "#2ca02c"}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 820px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.2em 0.8em; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child, td:first-child { text-align: left; }
.warn { color: #a15c00; } .fail { color: #b00020; font-weight: bold; } .pass { color: #2a7a2a; }
svg text { font-size: 11px; fill: #444; } .muted { color: #666; }
"""


def render(doc: dict[str, Any]) -> str:
    """The whole report page."""
    results, settings, target = doc["results"], doc["settings"], doc["target"]
    timeline = results["timeline"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>mlprod loadtest: {escape(target['url'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Load test of {escape(target['url'])}</h1>",
        f'<p class="muted">{escape(_describe(settings))}; {escape(doc["created_at"])}; '
        f"payloads: {escape(doc['payloads']['source'])}</p>",
        _verdict(doc),
        "<h2>Summary</h2>",
        _summary_table(results, settings),
        "<h2>Latency over time (ms, log scale)</h2>",
        _latency_chart(timeline, settings["warmup_s"]),
        "<h2>Throughput over time (requests per second)</h2>",
        _throughput_chart(timeline, settings["warmup_s"], results["target_rps"]),
        _errors(results["errors"]),
        "<h2>Load processes</h2>",
        _processes(results["load_processes"]),
        _load_cpu(results["load_cpu"], doc["environment"]["cpu_count"]),
        _warnings(doc["warnings"]),
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _describe(settings: dict[str, Any]) -> str:
    load = (
        f"open loop at {settings['rate']:g} req/s over {settings['users']} users"
        if settings["mode"] == "open"
        else f"closed loop, {settings['users']} users"
    )
    return f"{load}, {settings['duration_s']} s measured after {settings['warmup_s']} s warm-up"


def _verdict(doc: dict[str, Any]) -> str:
    if not doc["thresholds"]:
        return ""
    rows = "".join(
        f"<tr><td>{escape(check['option'])}</td><td>{check['limit']:g}</td>"
        f"<td>{'-' if check['value'] is None else format(check['value'], 'g')}</td>"
        f'<td class="{"pass" if check["passed"] else "fail"}">'
        f"{'held' if check['passed'] else 'breached'}</td></tr>"
        for check in doc["thresholds"]
    )
    return (
        "<h2>Thresholds</h2><table><tr><th>threshold</th><th>limit</th><th>value</th>"
        f"<th></th></tr>{rows}</table>"
    )


def _summary_table(results: dict[str, Any], settings: dict[str, Any]) -> str:
    rows = [
        ("requests", f"{results['requests']:,}"),
        ("errors", f"{sum(results['errors'].values()):,} ({results['error_rate']:.2%})"),
        ("throughput", f"{results['rps']:,.1f} req/s"),
    ]
    if results["target_rps"]:
        rows.append(
            (
                "target rate",
                f"{results['target_rps']:g} req/s ({results['achieved_ratio']:.1%} achieved)",
            )
        )
    head = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    latency_rows = [("latency from " + results["latency_from"], results["latency_ms"])]
    if results["service_time_ms"] is not None:
        latency_rows.append(("from actual send (uncorrected)", results["service_time_ms"]))
    cells = "".join(
        f"<tr><td>{escape(label)}</td>"
        + (
            "".join(f"<td>{values[key]:.3f}</td>" for key in ("p50", "p90", "p99", "p99_9", "max"))
            if values
            else '<td colspan="5">no responses</td>'
        )
        + "</tr>"
        for label, values in latency_rows
    )
    return (
        f"<table>{head}</table><table><tr><th>ms</th><th>p50</th><th>p90</th><th>p99</th>"
        f"<th>p99.9</th><th>max</th></tr>{cells}</table>"
    )


def _errors(errors: dict[str, int]) -> str:
    if not errors:
        return ""
    rows = "".join(f"<tr><td>{escape(kind)}</td><td>{n:,}</td></tr>" for kind, n in errors.items())
    return f"<h2>Errors by kind</h2><table><tr><th>kind</th><th>count</th></tr>{rows}</table>"


def _processes(processes: Sequence[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(p['name'])}</td><td>{p['users']}</td><td>{p['requests']:,}</td>"
        f"<td>{_percent(p['cpu_mean_percent'])}</td><td>{_percent(p['cpu_max_percent'])}</td></tr>"
        for p in processes
    )
    return (
        "<table><tr><th>process</th><th>users</th><th>requests</th><th>cpu mean</th>"
        f"<th>cpu max</th></tr>{rows}</table>"
    )


def _load_cpu(cpu: dict[str, Any] | None, cpu_count: int | None) -> str:
    line = report.load_cpu_line(cpu, cpu_count)
    return f"<p>{escape(line)}</p>" if line else ""


def _warnings(found: Sequence[str]) -> str:
    if not found:
        return ""
    items = "".join(f'<li class="warn">{escape(text)}</li>' for text in found)
    return f"<h2>Warnings</h2><ul>{items}</ul>"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _latency_chart(timeline: Sequence[dict[str, Any]], warmup: int) -> str:
    series = {
        key: [(p["second"] + 0.5, p[f"{key}_ms"]) for p in timeline if p[f"{key}_ms"]]
        for key in ("p50", "p99", "max")
    }
    values = [v for points in series.values() for _, v in points]
    if not values:
        return '<p class="muted">No responses to chart.</p>'
    low = 10 ** math.floor(math.log10(min(values)))
    high = 10 ** math.ceil(math.log10(max(values)))
    high = high * 10 if high == low else high

    def y(value: float) -> float:
        share = (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))
        return TOP + (1 - share) * _plot_height()

    ticks = [
        (y(10**e), _number(10**e))
        for e in range(round(math.log10(low)), round(math.log10(high)) + 1)
    ]
    return _chart(
        len(timeline), warmup, ticks, {k: [(x, y(v)) for x, v in s] for k, s in series.items()}
    )


def _throughput_chart(timeline: Sequence[dict[str, Any]], warmup: int, target: float | None) -> str:
    top: float = max([p["requests"] for p in timeline] + [target or 0, 1])
    step = _nice_step(top / 4)
    high = step * math.ceil(top / step)

    def y(value: float) -> float:
        return TOP + (1 - value / high) * _plot_height()

    ticks = [(y(step * i), _number(step * i)) for i in range(round(high / step) + 1)]
    points = {"rps": [(p["second"] + 0.5, y(p["requests"])) for p in timeline]}
    extra = ""
    if target:
        extra = (
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
            'stroke="#2ca02c" stroke-dasharray="4 3"/>'
        )
    return _chart(len(timeline), warmup, ticks, points, extra)


def _chart(
    seconds: int,
    warmup: int,
    ticks: Sequence[tuple[float, str]],
    series: dict[str, list[tuple[float, float]]],
    extra: str = "",
) -> str:
    span = max(seconds, 1)

    def x(second: float) -> float:
        return LEFT + second / span * (WIDTH - LEFT - RIGHT)

    bottom = HEIGHT - BOTTOM
    parts = [f'<svg width="{WIDTH}" height="{HEIGHT}" role="img">']
    if warmup:
        parts.append(
            f'<rect x="{LEFT}" y="{TOP}" width="{x(warmup) - LEFT:.1f}" height="{_plot_height()}" '
            'fill="#eee"/><text x="{:.1f}" y="{}">warm-up</text>'.format(LEFT + 4, TOP + 12)
        )
    for position, label in ticks:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{position:.1f}" y2="{position:.1f}" '
            f'stroke="#ddd"/><text x="{LEFT - 6}" y="{position + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    for second in _second_ticks(span):
        parts.append(
            f'<text x="{x(second):.1f}" y="{bottom + 16}" text-anchor="middle">{second}s</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}" stroke="#888"/>'
    )
    parts.append(extra)
    legend_x = LEFT + 8
    for name, points in series.items():
        colour = SERIES_COLOURS[name]
        if points:
            path = " ".join(f"{x(px):.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
        parts.append(
            f'<text x="{legend_x}" y="{bottom + 32}" style="fill:{colour}">&#9632; {name}</text>'
        )
        legend_x += 60
    parts.append("</svg>")
    return "".join(parts)


def _plot_height() -> int:
    return HEIGHT - TOP - BOTTOM


def _second_ticks(span: int) -> list[int]:
    step = max(1, _nice_step(span / 8))
    return list(range(0, span + 1, int(step)))


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least `raw`."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)


def _number(value: float) -> str:
    return f"{value:g}"
