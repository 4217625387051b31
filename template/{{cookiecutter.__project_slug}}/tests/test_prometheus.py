"""The alert rules with the real tools: promtool checks them, and a real Prometheus scrapes a
served project (uWSGI, two workers) and evaluates them until the drift alert fires.

Marked `prometheus`: they need the `prometheus` and `promtool` commands (Debian's
``prometheus`` package). Without them they skip, saying why; with ``CI=true`` they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig
from test_monitoring import SHIFTED, held_out, shifted
from test_server import call, stop, wait_until_ready

from servers import LOOPBACK, free_port, require_uwsgi, uwsgi_environ

pytestmark = pytest.mark.prometheus

ALERT_TIMEOUT = 60.0


def require(command: str) -> str:
    found = shutil.which(command)
    if found is None:
        message = f"{command} is not installed (Debian: apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_promtool_accepts_the_alert_rules(project: ProjectConfig) -> None:
    promtool = require("promtool")
    rules = project.root / "monitoring" / "alerts.yml"
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


@pytest.fixture
def served(
    project: ProjectConfig,
    models_dir: Path,
    manifest: Manifest,
    tmp_path: Path,
) -> Iterator[str]:
    uwsgi = require_uwsgi()
    port, stats_port = free_port(), free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    environ = uwsgi_environ(models_dir, manifest, port, stats_port, metrics_dir)
    log = tmp_path / "uwsgi.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [uwsgi, "--ini", str(project.root / "uwsgi.ini")],
            cwd=project.root,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://{LOOPBACK}:{port}"
        wait_until_ready(url, process, log)
        yield url
    finally:
        stop(process)


def prometheus(rules: Path, target: str, directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A Prometheus on a free loopback port scraping ``target`` every second."""
    command = require("prometheus")
    port = free_port()
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}\n"
        "scrape_configs:\n  - job_name: model-service\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    with (directory / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                command,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address={LOOPBACK}:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://{LOOPBACK}:{port}"


def targets(url: str) -> list[dict[str, Any]]:
    """What Prometheus says of its scrape targets (health, last error), for failure messages."""
    try:
        with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=5) as response:
            active = json.loads(response.read())["data"]["activeTargets"]
    except OSError as exc:
        return [{"error": str(exc)}]
    return [
        {key: target.get(key) for key in ("health", "lastError", "scrapeUrl")} for target in active
    ]


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=5) as response:
        return list(json.loads(response.read())["data"]["alerts"])


def test_prometheus_fires_the_drift_alert_for_the_shifted_feature_only(
    served: str, project: ProjectConfig, tmp_path: Path
) -> None:
    # The project's rules, as they are, but firing at once: `for:` would hold them minutes.
    rules = tmp_path / "alerts.yml"
    text = (project.root / "monitoring" / "alerts.yml").read_text()
    rules.write_text(re.sub(r"(?m)^(\s*)for: \S+$", r"\1for: 0s", text))
    for row in shifted(held_out(0)):
        assert call("POST", f"{served}/v1/predict", {"instances": [row]})[0] == 200
    process, url = prometheus(rules, served.removeprefix("http://"), tmp_path)
    try:
        deadline = time.monotonic() + ALERT_TIMEOUT
        firing: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                firing = [a for a in alerts(url) if a["state"] == "firing"]
            except OSError:
                firing = []  # still starting
            if any(a["labels"]["alertname"] == "FeatureDrift" for a in firing):
                break
            time.sleep(0.5)
        drift = [
            a["labels"]["feature"] for a in firing if a["labels"]["alertname"] == "FeatureDrift"
        ]
        assert drift == [SHIFTED], (firing, targets(url), _tail(tmp_path / "prometheus.log"))
        names = {a["labels"]["alertname"] for a in firing}
        assert "ModelNotReady" not in names
        assert "HighErrorRate" not in names
    finally:
        stop(process)
