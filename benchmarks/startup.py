"""How fast mlprod starts: `mlprod --help` and `mlprod new --no-input`, as wall time.

    .venv/bin/python benchmarks/startup.py            # pyperf's default rigour
    .venv/bin/python benchmarks/startup.py --fast     # a quicker, rougher figure

pyperf calibrates the loops, warms up, spreads the runs over fresh worker processes
and warns when the figures are unstable. Each timed call is one run of the installed
`mlprod` console script in a new process; for `new`, making and removing the output
folder happens outside the timed part. Targets: `--help` at most 0.15 s (heavy
imports live inside the commands) and `new --no-input` at most 0.6 s. For scale, the
same template rendered by cookiecutter's own command (`cookiecutter --no-input`, staged
with its hooks as `mlprod new` stages it, with a throw-away configuration file): `mlprod
new --no-input --no-git` should take no longer than that.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyperf

MLPROD = str(Path(sys.executable).parent / "mlprod")
COOKIECUTTER = str(Path(sys.executable).parent / "cookiecutter")


def staged_template() -> list[str]:
    """`cookiecutter --no-input <the staged template>` with a configuration of its own."""
    from mlprod_cli.templating.source import bundled_template, stage

    folder = Path(tempfile.mkdtemp(prefix="mlprod-startup-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # each pyperf worker stages one
    template = stage(bundled_template(), folder)
    config = folder / "config.json"
    config.write_text(f'{{"replay_dir": "{folder / "replay"}"}}')
    return [COOKIECUTTER, "--no-input", "--config-file", str(config), str(template)]


def timed(
    arguments: list[str], fresh_output: bool, program: list[str] | None = None
) -> Callable[[int], float]:
    """A pyperf time function: `loops` runs of `mlprod ARGUMENTS`, timing only the runs."""

    def run(loops: int) -> float:
        total = 0.0
        for _ in range(loops):
            output = Path(tempfile.mkdtemp(prefix="mlprod-startup-")) if fresh_output else None
            command = [*(program or [MLPROD]), *arguments, *(["-o", str(output)] if output else [])]
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
    runner.bench_time_func(
        "cookiecutter --no-input (the same template)", timed([], True, staged_template())
    )


if __name__ == "__main__":
    main()
