"""How fast mlprod starts: `mlprod --help` and `mlprod new --no-input`, as wall time.

    .venv/bin/python benchmarks/startup.py            # pyperf's default rigour
    .venv/bin/python benchmarks/startup.py --fast     # a quicker, rougher figure

pyperf calibrates the loops, warms up, spreads the runs over fresh worker processes
and warns when the figures are unstable. Each timed call is one run of the installed
`mlprod` console script in a new process; for `new`, making and removing the output
folder happens outside the timed part. Targets: `--help` at most 0.15 s (heavy
imports live inside the commands) and `new --no-input` at most 0.6 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyperf

MLPROD = str(Path(sys.executable).parent / "mlprod")


def timed(arguments: list[str], fresh_output: bool) -> Callable[[int], float]:
    """A pyperf time function: `loops` runs of `mlprod ARGUMENTS`, timing only the runs."""

    def run(loops: int) -> float:
        total = 0.0
        for _ in range(loops):
            output = Path(tempfile.mkdtemp(prefix="mlprod-startup-")) if fresh_output else None
            command = [MLPROD, *arguments, *(["-o", str(output)] if output else [])]
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            total += time.perf_counter() - started
            if output:
                shutil.rmtree(output)
        return total

    return run


def main() -> None:
    runner = pyperf.Runner()
    runner.metadata["description"] = "mlprod start-up time"
    runner.bench_time_func("mlprod --help", timed(["--help"], fresh_output=False))
    runner.bench_time_func("mlprod new --no-input", timed(["new", "--no-input"], True))
    # The same without the git repository and first commit, to show what git costs.
    runner.bench_time_func(
        "mlprod new --no-input --no-git", timed(["new", "--no-input", "--no-git"], True)
    )


if __name__ == "__main__":
    main()
