"""What predict-batch costs: rows per second and peak memory, by engine and file size.

The input is the project's own data, its rows repeated (with an id column) to each size
asked for, written once as CSV under a temporary folder. Each run is the real command
(``python -m <package>.cli predict-batch``) in a process of its own. Peak RSS is the
largest total of that process and its descendants (for Spark: the driver, its JVM, the
executors' Python workers), sampled from /proc every 0.2 s, or the kernel's peak for the
command's own process (``wait4``) when that is larger. The model
is the served version in ``models/`` (train one first). It measures; it asserts nothing.

    .venv/bin/python benchmarks/batch.py [--rows 100000,1000000] [--spark-rows 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model.data import read_table
from {{ cookiecutter.__package_name }}.model.train import find_project_config, load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--rows", default="100000,1000000", help="local engine input sizes")
    parser.add_argument("--spark-rows", default="100000", help="Spark local[2] sizes ('' for none)")
    arguments = parser.parse_args()
    project = find_project_config()
    names = [feature.name for feature in load_dataset(project).schema.features]
    assert project.data is not None
    data = read_table(project.data.path)[names]
    runs = [("local", int(n)) for n in arguments.rows.split(",") if n]
    runs += [("spark", int(n)) for n in arguments.spark_rows.split(",") if n]
    print(f"{'engine':<8}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'peak RSS':>12}")
    with tempfile.TemporaryDirectory() as scratch:
        inputs: dict[int, Path] = {}
        for engine, rows in runs:
            if rows not in inputs:
                inputs[rows] = _input(data, rows, Path(scratch))
            seconds, peak = _run(engine, inputs[rows], Path(scratch))
            print(f"{engine:<8}{rows:>10,}{seconds:>10.2f}{rows / seconds:>12,.0f}"
                  f"{peak / 1024:>9,.0f} MiB")  # fmt: skip


def _input(data: pd.DataFrame, rows: int, scratch: Path) -> Path:
    repeats = rows // len(data) + 1
    frame = pd.concat([data] * repeats, ignore_index=True).iloc[:rows]
    frame.insert(0, "_row", range(rows))
    path = scratch / f"rows-{rows}.csv"
    frame.to_csv(path, index=False)
    return path


def _run(engine: str, source: Path, scratch: Path) -> tuple[float, int]:
    """Seconds the command reports, and its peak RSS in KiB."""
    output = scratch / f"scores-{engine}-{source.stem}.parquet"
    command = [sys.executable, "-m", cli.__name__, "predict-batch", str(source), str(output),
               "--id-column", "_row", "--engine", engine, "--json", "--overwrite"]  # fmt: skip
    if engine == "spark":
        command += ["--master", "local[2]"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = [0]
    done = threading.Event()
    sampler = threading.Thread(target=_sample_tree, args=(process.pid, peak, done))
    sampler.start()
    assert process.stdout is not None
    text = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"predict-batch failed ({engine}, {source.name}): exit status {status}")
    summary = json.loads(text)
    print(f"  ({engine}, {summary['rows']:,} rows: {wall:.1f} s wall with start-up; "
          f"the command's own process peaked at {usage.ru_maxrss / 1024:,.0f} MiB)")  # fmt: skip
    return float(summary["seconds"]), max(peak[0], int(usage.ru_maxrss))


def _sample_tree(root: int, peak: list[int], done: threading.Event) -> None:
    """The largest sum of RSS (KiB) over ``root`` and its descendants (Spark's JVM and
    Python workers), sampled from /proc every 0.2 s until ``done``."""
    while not done.wait(0.2):
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            pid = int(entry.name)
            children.setdefault(int(fields.get("PPid", "0")), []).append(pid)
            rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
        total, stack = 0, [root]
        while stack:
            pid = stack.pop()
            total += rss.get(pid, 0)
            stack += children.get(pid, [])
        peak[0] = max(peak[0], total)


if __name__ == "__main__":
    main()
