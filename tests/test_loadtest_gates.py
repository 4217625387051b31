"""Gates tier: `mlprod loadtest` in a fresh generated project, trained, with its own uWSGI.

The command starts the project's server from the project's environment and
uwsgi.ini, loads it for a few seconds with payloads made from the training data,
stops it, and writes the figures. Slow (it installs the project); CI runs it all the same.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from projects import new_project

from mlprod_cli.project import environment

pytestmark = pytest.mark.slow

SLUG = "credit-risk-scorer"
MLPROD = Path(sys.executable).parent / "mlprod"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated project, installed into its own .venv, with its model trained."""
    output = tmp_path_factory.mktemp("loadtest-gates")
    root = new_project(output)
    bin_dir = environment.create(root).parent
    trained = subprocess.run(
        [str(bin_dir / SLUG), "train"], cwd=root, capture_output=True, text=True, check=False
    )
    assert trained.returncode == 0, trained.stderr
    return root


def test_loadtest_starts_the_server_runs_stops_it_and_writes_the_figures(project: Path) -> None:
    result = subprocess.run(
        [str(MLPROD), "loadtest", "--users", "4", "--duration", "3s", "--warmup", "1s",
         "--json", "lt.json", "--html", "lt.html"],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"started {SLUG}'s server (uWSGI, " in result.stderr
    assert "stopping the server" in result.stderr
    doc = json.loads((project / "lt.json").read_text())
    assert doc["target"]["started_by_mlprod"] is True
    assert doc["target"]["project"] == str(project)
    assert doc["payloads"]["source"] == (
        f"150 rows of {project / 'data' / 'iris.csv'} without its target column"
    )
    results = doc["results"]
    assert results["requests"] > 0
    assert results["errors"] == {}, "every payload from the training data must be valid"
    assert results["latency_ms"]["p50"] > 0
    assert [point["measured"] for point in results["timeline"]] == [False, True, True, True]
    assert (project / "lt.html").read_text().count("<svg") == 2
    # the server is gone: its port refuses connections
    url = urlsplit(doc["target"]["url"])
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((url.hostname, url.port), timeout=5),
    ):
        pass
