"""What every command prints, in one format: sizes, durations, rates, paths, tables, progress.

- Sizes are binary (KiB, MiB, GiB: what `ls -lh` and memory tools show), durations are
  pyperf's (ns, µs, ms, s), both to three significant figures.
- Messages for people go to stderr: progress (`say`), warnings (`warn`, `mlprod: warning:
  ...`); results go to stdout. A user's mistake is printed by `mlprod_cli.main`, once.
- Rich is imported only by `progress` and the benchmark's tables, so `mlprod --help`
  stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer

PREFIX = "mlprod"

Advance = Callable[[str, int], None]
"""Progress: a description of the step running, and how many steps are done."""


def significant(value: float) -> str:
    """Three significant figures, without exponent notation."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_size(count: float) -> str:
    """Bytes in binary units: `512` -> `512 B`, `131072` -> `128 KiB`, `1.5 * 2**20` ->
    `1.50 MiB`."""
    if abs(count) < 1024:
        return f"{count:.0f} B"
    value = count / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if abs(value) < 1023.5:
            return f"{significant(value)} {unit}"
        value /= 1024
    return f"{significant(value)} TiB"


def format_duration(seconds: float) -> str:
    """`0.000105` -> `105 µs`."""
    if seconds == 0:
        return "0 s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale * 0.9995:
            return f"{significant(seconds / scale)} {unit}"
    return f"{significant(seconds / 1e-9)} ns"


def format_rate(per_second: float) -> str:
    """A rate to three significant figures, with thousands separators: `2512.7` -> `2,510`."""
    if per_second <= 0:
        return "0"
    digits = 2 - math.floor(math.log10(per_second))
    return f"{round(per_second, digits):,.{max(digits, 0)}f}"


def shown(path: Path | str) -> str:
    """A path relative to the current folder when it is inside it, else as given."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return str(path)
    here = Path.cwd().resolve()
    resolved = candidate.resolve()
    return str(resolved.relative_to(here)) if resolved.is_relative_to(here) else str(path)


def table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Rows of cells in aligned columns, two spaces apart; the columns in `right` are
    right-aligned (numbers), the last column is never padded."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell if column == len(row) - 1 else _aligned(cell, widths[column], column in right)
            for column, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def say(message: str) -> None:
    """A line for the person watching, on stderr: what is happening now."""
    typer.echo(message, err=True)


def warn(message: str) -> None:
    """`mlprod: warning: <message>` on stderr: done, but something deserves a look."""
    typer.echo(f"{PREFIX}: warning: {message}", err=True)


def error_line(message: str) -> str:
    """The one format of a user's mistake, and of a failed check: `mlprod: <message>`."""
    return f"{PREFIX}: {message}"


@contextmanager
def progress(total: int) -> Iterator[Advance]:
    """A progress bar on a terminal's stderr that disappears when done; nothing in a log."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        refresh_per_second=4,
        disable=not console.is_terminal,  # a log gets no animation, and no blank line
    ) as bar:
        task = bar.add_task("starting", total=total)

        def advance(description: str, done: int) -> None:
            bar.update(task, description=description, completed=done)

        yield advance


def _aligned(cell: str, width: int, right: bool) -> str:
    return cell.rjust(width) if right else cell.ljust(width)
