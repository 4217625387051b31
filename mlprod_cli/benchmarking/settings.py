"""What `mlprod benchmark` measures and how much: parsed and checked before any work.

The defaults keep a run of the example model under a minute on two cores: five
fresh processes for the load time, and per batch size ten pyperf runs of one
warm-up and three values, each value a loop calibrated to last at least 0.1 s.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from mlprod_cli.errors import UserError

DEFAULT_BATCH_SIZES = (1, 8, 64, 512)
MAX_BATCH_SIZE = 1_000_000
DEFAULT_MAX_REGRESSION = "10%"


@dataclass(frozen=True)
class Settings:
    """How much to measure. `runs`, `values`, `warmups` and `min_time_s` are pyperf's."""

    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    runs: int = 10
    values: int = 3
    warmups: int = 1
    min_time_s: float = 0.1
    load_runs: int = 5

    @property
    def call_budget_s(self) -> float:
        """Time spent on single-call timings per batch size: as long as one pyperf run."""
        return (self.warmups + self.values) * self.min_time_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batch_sizes": list(self.batch_sizes)}


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """`"1,8,64"` -> `(1, 8, 64)`: positive whole numbers, duplicates dropped, order kept."""
    sizes: list[int] = []
    for part in text.split(","):
        item = part.strip()
        if not re.fullmatch(r"[+-]?\d+", item) or int(item) < 1:
            raise UserError(
                f"--batch-sizes: {item!r} is not a positive whole number; "
                "give sizes like 1,8,64,512"
            )
        size = int(item)
        if size > MAX_BATCH_SIZE:
            raise UserError(
                f"--batch-sizes: {size} is more than {MAX_BATCH_SIZE:,} rows; give a smaller size"
            )
        if size not in sizes:
            sizes.append(size)
    return tuple(sizes)


def parse_percentage(text: str, option: str = "--max-regression") -> float:
    """`"10%"` or `"10"` -> `0.10`: a non-negative percentage, as a fraction."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*%?\s*", text)
    if not match:
        raise UserError(f"{option} expects a percentage like 10%, got {text!r}")
    return float(match.group(1)) / 100


def format_percent(fraction: float) -> str:
    """`0.1` -> `10%`, `0.025` -> `2.5%`: as a user would type it."""
    return f"{fraction * 100:.4g}%"


def positive_int(value: int, option: str) -> int:
    if value < 1:
        raise UserError(f"{option} must be a positive whole number, got {value}")
    return value


def positive_seconds(value: float, option: str) -> float:
    if not (value > 0 and math.isfinite(value)):
        raise UserError(f"{option} must be a positive number of seconds, got {value:g}")
    return value
