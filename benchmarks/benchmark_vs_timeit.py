"""Does `mlprod benchmark` measure what an independent `timeit` measures?

    .venv/bin/python benchmarks/benchmark_vs_timeit.py                  # a fresh project
    .venv/bin/python benchmarks/benchmark_vs_timeit.py --project DIR    # a trained one

Without `--project` it makes a fresh project in a temporary folder (`mlprod new`,
its `.venv` through uv, `train`). It then runs `mlprod benchmark --json` with the
default settings and prints its wall time (target: under a minute on two cores).
Just before and just after, it times the same model's `predict` on the same single
row with the standard library's `timeit`, in the project's interpreter, loading the
model through the project's registry as the service does. It prints the single-row
latencies and their difference (target: within 15%).

The two are compared as like with like: pyperf's mean of calibrated loops against
the median of `timeit`'s repeats (its minimum, timeit's own convention, is printed
too). `timeit` turns the garbage collector off while timing; pyperf does not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlprod_cli.benchmarking import process
from mlprod_cli.benchmarking.inputs import benchmark_inputs
from mlprod_cli.project import environment, load_project, project_python
from mlprod_cli.project.models import find_trained_model

MLPROD = Path(sys.executable).parent / "mlprod"
REPEATS = 15
TIMEIT = """
import json, statistics, sys, timeit
from pathlib import Path
import numpy as np
from {package}.model import registry
from {package}.model.predictor import Predictor

loaded = registry.load(Path("models"), {name!r}, {version!r}, Predictor)
X = np.array([json.loads(sys.argv[1])], dtype=loaded.manifest.input_schema.dtype)
timer = timeit.Timer("predict(X)", globals={{"predict": loaded.model.predict, "X": X}})
number, _ = timer.autorange()
per_call = [total / number for total in timer.repeat(repeat={repeats}, number=number)]
print(json.dumps({{"median": statistics.median(per_call), "min": min(per_call), "loops": number}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a trained project with its .venv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlprod-bench-") as scratch:
        root = args.project.resolve() if args.project else fresh_project(Path(scratch))
        compare(root, Path(scratch) / "out.json")


def fresh_project(folder: Path) -> Path:
    """`mlprod new` with defaults, its `.venv` (uv), and the example model trained."""
    run([MLPROD, "new", "--no-input", "-o", folder, "--set", "project_name=Credit Risk Scorer"])
    root = folder / "credit-risk-scorer"
    python = environment.create(root)
    run([python.parent / "credit-risk-scorer", "train"], cwd=root)
    return root


def compare(root: Path, out: Path) -> None:
    """timeit just before and just after the benchmark, so that a drift in the machine's
    load between the two measurements shows, and is averaged rather than taken as a gap."""
    before = independent_timeit(root)
    began = time.perf_counter()
    run([MLPROD, "benchmark", "--project", root, "--json", out], quiet=False)
    wall = time.perf_counter() - began
    after = independent_timeit(root)
    result = json.loads(out.read_text())
    single = next(b for b in result["predict"] if b["batch_size"] == 1)
    ours = single["latency_s"]["summary"]["mean"]
    theirs = (before["median"] + after["median"]) / 2
    difference = ours / theirs - 1
    print()
    print(f"mlprod benchmark --json, default settings: {wall:.1f} s wall (target: under 60 s)")
    print(f"single-row latency, mlprod benchmark (pyperf mean):  {ours * 1e6:8.1f} µs")
    for label, figures in (("before", before), ("after", after)):
        print(
            f"single-row latency, timeit {label:<6} (median of {REPEATS}): "
            f"{figures['median'] * 1e6:8.1f} µs (min {figures['min'] * 1e6:.1f} µs, "
            f"{figures['loops']} loops)"
        )
    verdict = "within" if abs(difference) <= 0.15 else "OUTSIDE"
    print(
        f"difference from timeit's mean of the two medians: {difference:+.1%} "
        f"({verdict} the 15% target)"
    )


def independent_timeit(root: Path) -> dict[str, float]:
    """`timeit` of `predict` on the benchmark's first row, in the project's interpreter."""
    project = load_project(root)
    model = find_trained_model(project, None)
    row = benchmark_inputs(project, model).rows[0]
    code = TIMEIT.format(
        package=project.package, name=model.name, version=model.version, repeats=REPEATS
    )
    python = project_python(project, None)
    output = subprocess.run(
        [str(python), "-I", "-c", code, json.dumps(row)],
        cwd=root,
        env={**os.environ, **process.thread_env()},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures: dict[str, float] = json.loads(output)
    return figures


def run(command: list[object], cwd: Path | None = None, quiet: bool = True) -> None:
    subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


if __name__ == "__main__":
    main()
