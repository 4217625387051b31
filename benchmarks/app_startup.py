"""A generated app's start in a uWSGI worker: import + create_app, projects interleaved.

    .venv/bin/python benchmarks/app_startup.py OLD_PROJECT NEW_PROJECT --rounds 12
    .venv/bin/python benchmarks/app_startup.py OLD NEW --also pydantic_settings

Each project needs its `.venv` (with the `api` extra) and a trained model. Each round, in
a new order, runs one new process per project and mode, with the project as working
directory: it imports the libraries the project's `uwsgi.ini` lists as `shared-import`
(what a `lazy-apps` worker finds imported after fork), then times `import <package>.settings`
and `import <package>.wsgi` (which reads the environment and calls `create_app`). With
`--also MODULE`, a second mode imports MODULE too before the clock starts: what adding it
to `shared-import` would save each worker. Interleaving puts every project under the same
load on a shared machine; read the medians, and the CPU time (the start is CPU-bound,
and its CPU time moves less than its wall time when other work shares the cores).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
from pathlib import Path

TIMED = """{preimport}
import time
started, cpu = time.perf_counter(), time.process_time()
import {package}.settings
settings = time.perf_counter()
import {package}.wsgi
print(settings - started, time.perf_counter() - started, time.process_time() - cpu)
"""


def shared_imports(project: Path) -> list[str]:
    """The modules `uwsgi.ini` imports in the master (`shared-import = ...` lines)."""
    modules = []
    for line in (project / "uwsgi.ini").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "shared-import":
            modules.append(value.strip())
    return modules


def package(project: Path) -> str:
    """The project's import package: the one folder under `src/`."""
    (found,) = [path.name for path in (project / "src").iterdir() if path.is_dir()]
    return found


def run(project: Path, modules: list[str]) -> tuple[float, float, float]:
    """Seconds to import the settings module, to import the WSGI module, and the CPU time of
    the latter, in a new process."""
    code = TIMED.format(
        preimport="".join(f"import {module}\n" for module in modules), package=package(project)
    )
    result = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    settings, total, cpu = result.stdout.splitlines()[-1].split()
    return float(settings), float(total), float(cpu)


def importable(project: Path, module: str) -> bool:
    python = project / ".venv" / "bin" / "python"
    probe = [str(python), "-c", f"import {module}"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--also", action="append", default=[], metavar="MODULE")
    arguments = parser.parse_args()
    runs: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    plan: list[tuple[Path, str, list[str]]] = []
    for project in arguments.projects:
        shared = shared_imports(project)
        plan.append((project, "worker", shared))
        extra = [module for module in arguments.also if importable(project, module)]
        if extra:
            plan.append((project, "worker + " + ", ".join(extra), shared + extra))
    for _ in range(arguments.rounds):
        for project, mode, modules in random.sample(plan, len(plan)):
            runs.setdefault((str(project), mode), []).append(run(project, modules))
    print(f"{arguments.rounds} rounds; load average at the end: {os.getloadavg()[0]:.1f}")
    print("medians, ms: settings import; import + create_app (wall, then CPU)")
    print(f"{'project':40} {'mode':28} {'settings':>9} {'wall':>7} {'cpu':>7}")
    for (project, mode), times in runs.items():
        columns = zip(*times, strict=True)
        settings, total, cpu = (statistics.median(column) * 1e3 for column in columns)
        print(f"{project[-40:]:40} {mode:28} {settings:9.0f} {total:7.0f} {cpu:7.0f}")


if __name__ == "__main__":
    main()
