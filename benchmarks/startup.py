"""How fast mlprod starts: `mlprod --help` and `mlprod new --no-input`, as wall time.

    .venv/bin/python benchmarks/startup.py            # pyperf's default rigour
    .venv/bin/python benchmarks/startup.py --fast     # a quicker, rougher figure

pyperf runs each command in fresh processes, with warm-ups and calibrated loops,
and warns when the figures are unstable. Targets: `--help` at most 0.15 s (heavy
imports live inside the commands) and `new --no-input` at most 0.6 s, its git repository
and first commit included (`--no-git` is measured too, to show git's share). The `new`
figure includes a `sh` wrapper that makes and removes a scratch folder per run
(a few milliseconds).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pyperf

MLPROD = Path(sys.executable).parent / "mlprod"


def main() -> None:
    runner = pyperf.Runner()
    runner.metadata["description"] = "mlprod start-up time"
    runner.bench_command("mlprod --help", [str(MLPROD), "--help"])
    scaffold = (
        "out=$(mktemp -d) && "
        f'{shlex.quote(str(MLPROD))} new --no-input -o "$out" >/dev/null && rm -rf "$out"'
    )
    runner.bench_command("mlprod new --no-input", ["sh", "-c", scaffold])
    # The same without the git repository and first commit, to show what git costs.
    no_git = scaffold.replace(" new --no-input ", " new --no-input --no-git ")
    runner.bench_command("mlprod new --no-input --no-git", ["sh", "-c", no_git])


if __name__ == "__main__":
    main()
