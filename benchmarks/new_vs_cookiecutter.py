"""`mlprod new` against cookiecutter's own command on the same template, interleaved.

    .venv/bin/python benchmarks/new_vs_cookiecutter.py            # 30 rounds
    .venv/bin/python benchmarks/new_vs_cookiecutter.py --rounds 60

Each round runs `mlprod new --no-input --no-git` and `cookiecutter --no-input` (on the
template staged with its hooks, as `mlprod new` stages it, with a throw-away
configuration file) one after the other, each in a new process into a new folder. On a
machine shared with other work, interleaving puts both under the same load, which
back-to-back pyperf benchmarks (`startup.py`) cannot; the medians and their ratio are
the figures to read. cookiecutter runs the two hook scripts in processes of their own;
mlprod calls the same functions in-process (see `mlprod_cli/templating/
cookiecutter_adapter.py`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlprod_cli.templating.source import bundled_template, stage

BIN = Path(sys.executable).parent


def timed(command: list[str]) -> float:
    """Seconds one run of `command -o <new folder>` takes; making the folder is not timed."""
    output = Path(tempfile.mkdtemp(prefix="mlprod-new-vs-"))
    try:
        started = time.perf_counter()
        subprocess.run([*command, "-o", str(output)], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="mlprod-new-vs-template-") as folder_name:
        folder = Path(folder_name)
        template = stage(bundled_template(), folder)
        config = folder / "config.json"
        config.write_text(json.dumps({"replay_dir": str(folder / "replay")}))
        commands = {
            "mlprod new --no-input --no-git": [
                str(BIN / "mlprod"), "new", "--no-input", "--no-git"
            ],
            "cookiecutter --no-input": [
                str(BIN / "cookiecutter"), "--no-input", "--config-file", str(config), str(template)
            ],
        }  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, command in commands.items():
                times[name].append(timed(command))
    for name, values in times.items():
        median, low = statistics.median(values) * 1000, min(values) * 1000
        print(f"{name:32} median {median:5.0f} ms   min {low:5.0f} ms   ({rounds} runs)")
    mlprod, cookiecutter = (statistics.median(values) for values in times.values())
    print(f"mlprod new / cookiecutter: {mlprod / cookiecutter:.2f}x (medians)")


if __name__ == "__main__":
    main()
