"""The image, for real: built with the `docker` CLI, run, healthy, answering a prediction.

Without a container engine these tests skip and say why, except in CI (``CI=true``),
where a missing engine is a failure: CI must prove the image works. The image is built
from a scratch copy of the build context holding the session's trained model, and tagged
``{{ cookiecutter.__project_slug }}:test`` (kept, so the next build reuses its layers).
Set ``CONTAINER_IMAGE`` to test an image built already instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from {{ cookiecutter.__package_name }}.model.registry import Manifest, manifest_path
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig

from contract import EXAMPLE
from servers import LOOPBACK, free_port

TAG = "{{ cookiecutter.__project_slug }}:test"
BUILD_TIMEOUT = 1200.0
READY_TIMEOUT = 120.0
CONTEXT = ("pyproject.toml", "README.md", "uwsgi.ini", "Dockerfile", ".dockerignore", "src")
INSTANCE = EXAMPLE


def docker(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def inspect(kind: str, name: str) -> dict[str, Any]:
    """`docker <kind> inspect`: the object's JSON description."""
    answer = docker(kind, "inspect", name)
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)[0]


def no_engine(reason: str) -> NoReturn:
    """Skip, saying why; in CI, fail instead: there the image must be tested."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def engine() -> None:
    if shutil.which("docker") is None:
        no_engine("no `docker` command on PATH (install Docker, or another engine's CLI)")
    try:
        answer = docker("version", timeout=30)
    except subprocess.TimeoutExpired:
        no_engine("the container engine did not answer `docker version` within 30 s")
    if answer.returncode != 0:
        lines = answer.stderr.strip().splitlines() or ["no output"]
        no_engine(f"no container engine answers `docker version`: {lines[-1]}")


@pytest.fixture(scope="module")
def image(
    engine: None,
    project: ProjectConfig,
    models_dir: Path,
    manifest: Manifest,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """The image under test: CONTAINER_IMAGE, or one built from this project now."""
    given = os.environ.get("CONTAINER_IMAGE", "").strip()
    if given:
        return given
    context = tmp_path_factory.mktemp("context")
    for name in CONTEXT:
        source = project.root / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, context / name)
    (context / "models").mkdir()
    for path in (
        models_dir / manifest.artifact.file,
        manifest_path(models_dir, manifest.name, manifest.version),
    ):
        shutil.copy2(path, context / "models" / path.name)
    build = docker(
        "build", "-t", TAG, "--build-arg", f"MODEL_VERSION={manifest.version}", str(context),
        timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    assert build.returncode == 0, (build.stdout + build.stderr)[-3000:]
    return TAG


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[tuple[str, str]]:
    """The image running on the host's network, on a free loopback port; its id and URL."""
    port, stats_port = free_port(), free_port()
    run = docker(
        "run", "-d", "--network", "host",
        "-e", f"HOST={LOOPBACK}", "-e", f"PORT={port}", "-e", f"STATS_PORT={stats_port}",
        "-e", "UWSGI_PROCESSES=2", image,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    container_id = run.stdout.strip()
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until_healthy(container_id, url)
        yield container_id, url
    finally:
        docker("rm", "-f", container_id)


def wait_until_healthy(container_id: str, url: str) -> None:
    """Until /health/ready, which the HEALTHCHECK asks too, answers 200.

    An engine's health status fails the wait only when it says "unhealthy": some engines
    (podman without systemd) never run the check, and stay "starting". The check itself
    is run in the container by a test below.
    """
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        state = inspect("container", container_id)["State"]
        if not state["Running"]:
            logs = docker("logs", container_id)
            pytest.fail(f"the container stopped:\n{(logs.stdout + logs.stderr)[-3000:]}")
        health = (state.get("Health") or {}).get("Status")
        try:
            ready = get(f"{url}/health/ready") == 200
        except OSError:
            ready = False
        assert health != "unhealthy", state["Health"]
        if ready:
            return
        time.sleep(0.5)
    logs = docker("logs", container_id)
    pytest.fail(f"not healthy within {READY_TIMEOUT:.0f} s:\n{(logs.stdout + logs.stderr)[-3000:]}")


def healthcheck_command(container_id: str, project: ProjectConfig) -> list[str]:
    """The container's HEALTHCHECK command; from the Dockerfile where the engine has none.

    Docker keeps HEALTHCHECK in the image and its containers; an engine building the OCI
    image format may drop it, and then the Dockerfile is the source.
    """
    healthcheck = inspect("container", container_id)["Config"].get("Healthcheck")
    if healthcheck and healthcheck.get("Test"):
        test = healthcheck["Test"]
        return test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
    dockerfile = (project.root / "Dockerfile").read_text()
    found = re.search(r"^HEALTHCHECK (?:.*\\\n)*?\s*CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert found, "the Dockerfile has no HEALTHCHECK ... CMD [...]"
    return json.loads(found.group(1))


def test_the_image_answers_a_prediction(container: tuple[str, str], manifest: Manifest) -> None:
    _, url = container
    request = urllib.request.Request(
        f"{url}/v1/predict",
        data=json.dumps({"instances": [INSTANCE]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        body = json.loads(response.read())
    assert len(body["predictions"]) == 1
    assert body["model"]["name"] == manifest.name


def test_the_healthcheck_passes_inside_the_container_with_what_the_image_has(
    container: tuple[str, str], project: ProjectConfig
) -> None:
    container_id, _ = container
    check = docker("exec", container_id, *healthcheck_command(container_id, project))
    assert check.returncode == 0, check.stderr


def test_the_service_runs_as_a_user_other_than_root(container: tuple[str, str]) -> None:
    container_id, _ = container
    assert docker("exec", container_id, "id", "-u").stdout.strip() not in ("", "0")
