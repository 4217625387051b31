"""Gates tier for `mlprod package`: a generated, installed, trained project, packaged for real.

`sha256sum -c` accepts what it wrote. With a container engine (always in CI, where
`.ci/run` starts one) it builds the image once, and the project's own container test runs
against that image: it starts, turns healthy and answers a prediction. Slow.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from projects import new_project
from test_kubernetes import find_kubectl
from typer.testing import CliRunner

from mlprod_cli.main import app
from mlprod_cli.project import environment
from mlprod_cli.release.packaging import engine_problem

pytestmark = pytest.mark.slow

SLUG = "credit-risk-scorer"
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("package-gates")
    return new_project(output)


@pytest.fixture(scope="module")
def bin_dir(project: Path) -> Path:
    return environment.create(project).parent


@pytest.fixture(scope="module")
def packaged(project: Path, bin_dir: Path) -> dict[str, Any]:
    """`mlprod package --json` after training; with --image whenever an engine answers."""
    trained = subprocess.run(
        [str(bin_dir / SLUG), "train"], cwd=project, capture_output=True, text=True, check=False
    )
    assert trained.returncode == 0, trained.stderr
    problem = engine_problem()
    if problem and IN_CI:
        pytest.fail(f"CI=true but no container engine: {problem} (.ci/run starts one)")
    # With the image, the staging overlay is pinned to it too (checked below).
    image = ["--no-image"] if problem else ["--image", "--kubernetes", "staging"]
    result = CliRunner().invoke(app, ["package", "--project", str(project), "--json", *image])
    assert result.exit_code == 0, result.output
    return {**json.loads(result.stdout), "engine_problem": problem}


def made(packaged: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [row for row in packaged["made"] if row["kind"] == kind]


def test_package_writes_files_that_sha256sum_checks(
    packaged: dict[str, Any], project: Path
) -> None:
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"],
        cwd=project / "dist",
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert sorted(check.stdout.splitlines()) == [
        "credit_risk_scorer-0.1.0-py3-none-any.whl: OK",
        "credit_risk_scorer-0.1.0.tar.gz: OK",
        f"models/{SLUG}-0.1.0.tar.gz: OK",
    ]
    assert [len(made(packaged, kind)) for kind in ("wheel", "sdist", "model", "checksums")] == [
        1, 1, 1, 1,
    ]  # fmt: skip


def test_the_model_bundle_holds_the_trained_artifact_and_its_manifest(
    packaged: dict[str, Any], project: Path
) -> None:
    with tarfile.open(project / "dist" / "models" / f"{SLUG}-0.1.0.tar.gz") as bundle:
        names = sorted(bundle.getnames())
        files = {name: bundle.extractfile(name) for name in names}
        manifest = json.loads(files[f"{SLUG}-0.1.0.json"].read())  # type: ignore[union-attr]
        artifact = files[f"{SLUG}-0.1.0.skops"].read()  # type: ignore[union-attr]
    assert names == sorted([f"{SLUG}-0.1.0.skops", f"{SLUG}-0.1.0.onnx", f"{SLUG}-0.1.0.json"])
    assert artifact == (project / "models" / f"{SLUG}-0.1.0.skops").read_bytes()
    assert (manifest["name"], manifest["version"]) == (SLUG, "0.1.0")


def test_the_packaged_image_starts_turns_healthy_and_answers(
    packaged: dict[str, Any], project: Path, bin_dir: Path
) -> None:
    images = made(packaged, "image")
    if not images:
        pytest.skip(f"no container engine here: {packaged['engine_problem']}")
    assert images[0]["path"] == f"{SLUG}:0.1.0"
    print(f"image {images[0]['path']}: {images[0]['size'] / 1e6:.1f} MB")
    result = subprocess.run(
        [str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider", "tests/test_container.py"],
        cwd=project,
        env={**os.environ, "CONTAINER_IMAGE": images[0]["path"]},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 passed" in result.stdout
    assert " skipped" not in result.stdout


def test_the_staging_overlay_runs_the_image_built(packaged: dict[str, Any], project: Path) -> None:
    images = made(packaged, "image")
    if not images:
        pytest.skip(f"no container engine here: {packaged['engine_problem']}")
    digest = images[0].get("digest")
    reference = f"{SLUG}:0.1.0" + (f"@{digest}" if digest else "")
    print(f"overlay pinned to {reference}")
    assert packaged["kubernetes"]["image"] == reference
    kubectl, why = find_kubectl()
    if kubectl is None:
        pytest.fail(why) if IN_CI else pytest.skip(why)
    overlay = project / "deploy" / "kubernetes" / "overlays" / "staging"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    objects = {item["kind"]: item for item in yaml.safe_load_all(rendered)}
    (container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == reference
    assert objects["ConfigMap"]["data"]["MODEL_VERSION"] == "0.1.0"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2):
            return 200
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_the_image_serves_under_the_pods_security_context(
    packaged: dict[str, Any], project: Path, tmp_path: Path
) -> None:
    """The image run as the staging Deployment runs it: its user, a read-only root with only
    its emptyDir paths writable, no capability, no privilege escalation, its environment,
    and the API keys' Secret as a read-only file where the pod mounts it."""
    images = made(packaged, "image")
    if not images:
        pytest.skip(f"no container engine here: {packaged['engine_problem']}")
    kubectl, why = find_kubectl()
    if kubectl is None:
        pytest.fail(why) if IN_CI else pytest.skip(why)
    overlay = project / "deploy" / "kubernetes" / "overlays" / "staging"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    objects = {item["kind"]: item for item in yaml.safe_load_all(rendered)}
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = {**pod["securityContext"], **container["securityContext"]}
    assert security["readOnlyRootFilesystem"] and security["capabilities"]["drop"] == ["ALL"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    port = _free_port()
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    env.update(objects["ConfigMap"]["data"])
    # On the host's network: free ports for the service and for uWSGI's stats (PORT + 1
    # by default, which may be taken).
    env.update(HOST="127.0.0.1", PORT=str(port), STATS_PORT=str(_free_port()))
    env.update(UWSGI_PROCESSES="2")
    keys = tmp_path / "keys"
    keys.write_text("# the Secret's file\nk8s-test-key\n")
    keys.chmod(0o644)
    flags = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    flags += ["--user", f"{security['runAsUser']}:{security['runAsGroup']}"]
    for name, path in mounts.items():
        if "emptyDir" in volumes[name]:
            flags += ["--tmpfs", f"{path}:mode=1777"]
        elif "secret" in volumes[name]:
            flags += ["-v", f"{keys}:{path}/keys:ro"]
    for name, value in env.items():
        flags += ["-e", f"{name}={value}"]
    run = subprocess.run(
        ["docker", "run", "-d", "--network", "host", *flags, images[0]["path"]],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    container_id = run.stdout.strip()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _status(f"{base}/health/ready") != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        logs = subprocess.run(["docker", "logs", container_id], capture_output=True, text=True)
        assert _status(f"{base}/health/ready") == 200, (logs.stdout + logs.stderr)[-3000:]
        assert _status(f"{base}/v1/model") == 401
        assert _status(f"{base}/v1/model", {"X-API-Key": "k8s-test-key"}) == 200
        assert _status(f"{base}/metrics") == 200
    finally:
        subprocess.run(["docker", "rm", "-f", container_id], capture_output=True, check=False)
