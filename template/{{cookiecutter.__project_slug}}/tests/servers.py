"""What the tests that start real servers share: ports, the uwsgi command, its environment."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.model.registry import Manifest

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def require_uwsgi() -> str:
    """The `uwsgi` beside this interpreter (pyuwsgi's), else one on PATH; skip without one."""
    found = shutil.which("uwsgi", path=str(Path(sys.executable).parent)) or shutil.which("uwsgi")
    if found is None:
        pytest.skip("uwsgi is not installed (it comes with the `api` extra)")
    return found


def uwsgi_environ(
    models_dir: Path, manifest: Manifest, port: int, stats_port: int, metrics_dir: Path
) -> dict[str, str]:
    """uwsgi.ini's inputs for two workers on loopback serving `manifest`'s model.

    The caller's own `UWSGI_*` variables are dropped: uWSGI would read them as options.
    """
    environ = {key: value for key, value in os.environ.items() if not key.startswith("UWSGI_")}
    return environ | {
        "HOST": LOOPBACK,
        "PORT": str(port),
        "STATS_PORT": str(stats_port),
        "UWSGI_PROCESSES": "2",
        "MODELS_DIR": str(models_dir),
        "MODEL_NAME": manifest.name,
        "MODEL_VERSION": manifest.version,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
