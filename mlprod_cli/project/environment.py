"""A generated project's own virtual environment.

Commands that run a project's code (training, serving, benchmarks, load tests)
use the project's interpreter, never mlprod's: mlprod may live in an environment
of its own (pipx, `uv tool`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mlprod_cli.errors import UserError


def venv_python(venv: Path) -> Path:
    """The interpreter of the virtual environment at `venv`."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def find_uv() -> str | None:
    """uv beside this interpreter (mlprod's dev extra installs it) or on PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    return shutil.which("uv")


def create(
    project_dir: Path, extras: Sequence[str] = ("api", "dev"), venv: Path | None = None
) -> Path:
    """Create `<project>/.venv` with the project installed editable; return its interpreter.

    uv is used when present (its wheel cache makes the second install take seconds),
    pip otherwise.
    """
    venv = venv or project_dir / ".venv"
    target = f".[{','.join(extras)}]" if extras else "."
    uv = find_uv()
    if uv:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], project_dir)
        _run(
            [uv, "pip", "install", "--quiet", "--python", str(venv_python(venv)), "-e", target],
            project_dir,
        )
    else:
        _run([sys.executable, "-m", "venv", str(venv)], project_dir)
        _run([str(venv_python(venv)), "-m", "pip", "install", "--quiet", "-e", target], project_dir)
    return venv_python(venv)


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {result.returncode}"
        raise UserError(f"installing the project in {cwd} failed ({command[0]}): {last}")
