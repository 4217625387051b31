"""The project's interpreter, and the runner script mlprod executes with it.

mlprod never imports the project: it runs `mlprod_cli/benchmarking/runner.py`
with the project's Python (`-I`: no user site, no script folder on `sys.path`, no
PYTHON* variables), sends one JSON request on standard input and reads JSON lines
back. Native thread pools are pinned to one thread, as in the project's `uwsgi.ini`,
so the figures are those of one served worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from mlprod_cli.errors import UserError

RUNNER = "runner.py"
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""As the project's `uwsgi.ini` sets them; a value already in the environment wins."""

Event = Mapping[str, Any]


class RunnerFailure(UserError):
    """The runner answered with an error event; `kind` says which failure it was."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def thread_env() -> dict[str, str]:
    """The thread-pool variables the runner gets: pinned to 1 unless already set."""
    return {name: os.environ.get(name, value) for name, value in THREAD_ENV.items()}


@contextmanager
def runner_script() -> Iterator[Path]:
    """The runner as a file on disk (it is one, in a wheel or a checkout)."""
    from importlib.resources import as_file, files

    with as_file(files("mlprod_cli.benchmarking") / RUNNER) as path:
        yield path


def run(
    python: Path,
    script: Path,
    mode: str,
    request: Mapping[str, Any],
    cwd: Path,
    on_event: Callable[[Event], None] | None = None,
) -> Any:
    """Run one mode of the runner; return its result's data, or raise `RunnerFailure`.

    Progress events are passed to `on_event` as they arrive.
    """
    command = [str(python), "-I", str(script), mode]
    with tempfile.TemporaryFile(mode="w+b") as stderr:
        try:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env={**os.environ, **thread_env()},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        except OSError as error:
            raise UserError(f"cannot run {python}: {error.strerror or error}") from None
        with process:  # closes the pipes; the runner is killed if mlprod is interrupted
            try:
                final = _exchange(process, request, on_event)
            finally:
                if process.poll() is None:
                    process.kill()
        if final is None:
            raise UserError(
                f"{python} could not run the benchmark (exit code {process.returncode}): "
                f"{_last_line(stderr)}"
            )
    if final["event"] == "error":
        raise RunnerFailure(str(final.get("kind")), str(final.get("message")))
    return final.get("data")


def _exchange(
    process: subprocess.Popen[str],
    request: Mapping[str, Any],
    on_event: Callable[[Event], None] | None,
) -> Event | None:
    """Send the request, pass progress on, return the final event (None if there was none)."""
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(json.dumps(request))
        process.stdin.close()
    except BrokenPipeError:  # it exited before reading: its stderr says why
        return None
    final = None
    for line in process.stdout:
        event = _event(line)
        if event is None:
            continue
        if event["event"] == "progress":
            if on_event is not None:
                on_event(event)
        elif event["event"] in ("result", "error"):
            final = event
    process.wait()
    return final if process.returncode in (0, 1) else None


def _event(line: str) -> Event | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _last_line(stream: IO[bytes]) -> str:
    stream.seek(0)
    lines = stream.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(no output)"
