"""The generated project's Kubernetes manifests, rendered by kustomize and read as a cluster would.

Every overlay is rendered with `kubectl kustomize` (kustomize v5, offline) and each object
is validated, strictly (no unknown field), against the JSON schemas of a current Kubernetes
release shipped by the `kubernetes-validate` package. The probes, ports and paths are then
checked against what the project itself says: the routes its app adds and the socket its
`uwsgi.ini` binds, both parsed, so these tests follow changes to either.

kubectl comes from `make tools` (`.tools/kubectl`), `MLPROD_KUBECTL`, or PATH; without a
kubectl that has kustomize v5 these tests skip, saying why, and with CI=true they fail.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from template_versions import NEW, OLD, PROJECT_DIR, commit, make_old_project
from typer.testing import CliRunner

from mlprod_cli.main import app
from mlprod_cli.templating.source import bundled_template, stage

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ("staging", "production")
IMAGE_USER = 10001  # the Dockerfile's USER; test_template checks the Dockerfile says it
OTHER_NAME = "Fraud Signal Ranker"
OTHER_SLUG = "fraud-signal-ranker"

Bake = Callable[..., Any]
Manifest = dict[str, Any]


def find_kubectl() -> tuple[str | None, str]:
    """A kubectl with kustomize v5 built in, or None and why there is none."""
    candidates = [os.environ.get("MLPROD_KUBECTL"), str(ROOT / ".tools" / "kubectl")]
    candidates.append(shutil.which("kubectl"))
    for candidate in filter(None, candidates):
        if not Path(candidate).is_file():
            continue
        answer = subprocess.run(
            [candidate, "version", "--client"], capture_output=True, text=True, check=False
        )
        if re.search(r"Kustomize Version: v5\.", answer.stdout):
            return candidate, ""
    return None, "no kubectl with kustomize v5 (run `make tools`, or set MLPROD_KUBECTL)"


@pytest.fixture(scope="session")
def kubectl() -> str:
    found, why = find_kubectl()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return found


def render(kubectl: str, overlay: Path) -> list[Manifest]:
    result = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def baked_project(bake: Bake, **answers: str) -> Path:
    result = bake(**answers)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


@pytest.fixture
def project(bake: Bake) -> Path:
    return baked_project(bake)


@pytest.fixture
def rendered(project: Path, kubectl: str) -> dict[str, list[Manifest]]:
    root = project / "deploy" / "kubernetes" / "overlays"
    return {overlay: render(kubectl, root / overlay) for overlay in OVERLAYS}


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = [manifest for manifest in manifests if manifest["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def api_container(manifests: list[Manifest]) -> Manifest:
    containers = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


# What the project says: its routes and the address uwsgi.ini binds ----------------------


def routes(project: Path) -> set[str]:
    """The paths the app factory adds (`app.add_route("<path>", ...)` in api/app.py)."""
    (app_py,) = project.glob("src/*/api/app.py")
    paths = set()
    for node in ast.walk(ast.parse(app_py.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_route"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            paths.add(str(node.args[0].value))
    return paths


_SOCKETS = ("http-socket", "http11-socket", "https-socket", "http")


def uwsgi_address(uwsgi_ini: Path, environ: Mapping[str, str]) -> tuple[str, int]:
    """The HTTP address uwsgi.ini binds with `environ`: its if-env/if-not-env blocks,
    placeholders (`set-placeholder`, `%(name)`, `%(_)`) and `$(VAR)` read as uWSGI reads them."""
    placeholders: dict[str, str] = {}
    skipping = False
    current = ""
    address = None

    def expand(value: str) -> str:
        value = re.sub(r"\$\((\w+)\)", lambda match: environ.get(match[1], ""), value)
        return re.sub(r"%\((\w+)\)", lambda match: placeholders.get(match[1], match[0]), value)

    for raw in uwsgi_ini.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith((";", "#", "[")):
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "endif":
            skipping = False
            continue
        if skipping:
            continue
        if key in ("if-env", "if-not-env"):
            present = bool(environ.get(value))
            skipping = present if key == "if-not-env" else not present
            current = environ.get(value, "")
            continue
        placeholders["_"] = current
        if key == "set-placeholder":
            name, _, assigned = value.partition("=")
            placeholders.setdefault(name.strip(), expand(assigned.strip()))
        elif key in _SOCKETS:
            address = expand(value)
    assert address is not None, f"no HTTP socket in {uwsgi_ini}"
    host, _, port = address.rpartition(":")
    return host, int(port)


def container_environment(container: Manifest) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def named_port(container: Manifest, port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [item["containerPort"] for item in container["ports"] if item["name"] == port]
    return int(number)


# Rendering and schemas -------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_and_validates_against_the_kubernetes_schemas(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    version = kubernetes_validate.latest_version()
    kinds = []
    for manifest in rendered[overlay]:
        kinds.append(manifest["kind"])
        if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: no schema in the package; its fields are checked below
        kubernetes_validate.validate(manifest, version, strict=True)
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= set(kinds)
    assert kinds.count("ConfigMap") == 1


def test_the_schema_check_rejects_a_misspelt_field(rendered: dict[str, list[Manifest]]) -> None:
    deployment = one(rendered["staging"], "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_only_production_has_a_service_monitor(rendered: dict[str, list[Manifest]]) -> None:
    assert not [m for m in rendered["staging"] if m["kind"] == "ServiceMonitor"]
    monitor = one(rendered["production"], "ServiceMonitor")
    service = one(rendered["production"], "Service")
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


# The service's own facts -------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_the_health_routes_on_the_port_uwsgi_binds(
    project: Path, rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    container = api_container(rendered[overlay])
    host, port = uwsgi_address(project / "uwsgi.ini", container_environment(container))
    assert host == "0.0.0.0", "uWSGI must listen on the pod's address for probes to reach it"
    assert [item["containerPort"] for item in container["ports"]] == [port]
    served = routes(project)
    probes = {
        name: container[name]["httpGet"]
        for name in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert probes["readinessProbe"]["path"] == probes["startupProbe"]["path"] == "/health/ready"
    assert probes["livenessProbe"]["path"] == "/health/live"
    for name, probe in probes.items():
        assert probe["path"] in served, f"{name} asks {probe['path']}, not a route"
        assert named_port(container, probe["port"]) == port, name


def test_the_container_port_is_the_one_uwsgi_binds_by_default_and_the_image_exposes(
    project: Path, rendered: dict[str, list[Manifest]]
) -> None:
    _, default_port = uwsgi_address(project / "uwsgi.ini", {})
    container = api_container(rendered["staging"])
    assert [item["containerPort"] for item in container["ports"]] == [default_port]
    assert f"EXPOSE {default_port}" in (project / "Dockerfile").read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_service_reaches_the_containers_port(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    container = api_container(rendered[overlay])
    service = one(rendered[overlay], "Service")
    pod_labels = one(rendered[overlay], "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    for port in service["spec"]["ports"]:
        assert named_port(container, port["targetPort"]) == container["ports"][0]["containerPort"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_follow_the_cpu_limit(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    container = api_container(rendered[overlay])
    (processes,) = [item for item in container["env"] if item["name"] == "UWSGI_PROCESSES"]
    source = processes["valueFrom"]["resourceFieldRef"]
    assert (source["containerName"], source["resource"]) == (container["name"], "limits.cpu")
    assert str(source.get("divisor", "1")) == "1"
    limit = str(container["resources"]["limits"]["cpu"])
    assert limit.isdigit() and int(limit) >= 1, f"a CPU limit of {limit} is not whole CPUs"
    assert container["resources"]["requests"]["cpu"] == container["resources"]["limits"]["cpu"]
    assert "memory" in container["resources"]["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_runs_locked_down_as_the_images_user(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    pod = one(rendered[overlay], "Deployment")["spec"]["template"]["spec"]
    container = api_container(rendered[overlay])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == IMAGE_USER
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_writable_paths_are_empty_dirs(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    pod = one(rendered[overlay], "Deployment")["spec"]["template"]["spec"]
    container = api_container(rendered[overlay])
    empty = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    metrics_dir = container_environment(container)["PROMETHEUS_MULTIPROC_DIR"]
    assert mounts[metrics_dir] in empty
    assert mounts["/tmp"] in empty  # uWSGI's spooled request bodies


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_keys_come_from_a_secret_never_the_config_map(
    project: Path, rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    pod = one(rendered[overlay], "Deployment")["spec"]["template"]["spec"]
    container = api_container(rendered[overlay])
    config = one(rendered[overlay], "ConfigMap")
    assert not {"API_KEYS", "API_KEYS_FILE"} & set(config["data"])
    keys_file = Path(container_environment(container)["API_KEYS_FILE"])
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == keys_file.parent]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == f"{project.name}-api-keys"
    assert mount["readOnly"] is True
    (source,) = container["envFrom"]
    assert source["configMapRef"]["name"] == config["metadata"]["name"]
    assert config["data"]["MODEL_VERSION"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shutdown_drains_then_allows_uwsgis_mercy(
    project: Path, rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    pod = one(rendered[overlay], "Deployment")["spec"]["template"]["spec"]
    container = api_container(rendered[overlay])
    mercy = dict(
        line.replace(" ", "").split("=", 1)
        for line in (project / "uwsgi.ini").read_text().splitlines()
        if line.startswith("worker-reload-mercy")
    )["worker-reload-mercy"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    drain = int(command[1])
    assert drain > 0
    assert pod["terminationGracePeriodSeconds"] > drain + int(mercy)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rollouts_keep_capacity_and_disruptions_take_one_pod(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    deployment = one(rendered[overlay], "Deployment")
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    budget = one(rendered[overlay], "PodDisruptionBudget")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    autoscaler = one(rendered[overlay], "HorizontalPodAutoscaler")
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 1 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]


def test_production_keeps_more_pods_than_staging(rendered: dict[str, list[Manifest]]) -> None:
    minimum = {
        overlay: one(rendered[overlay], "HorizontalPodAutoscaler")["spec"]["minReplicas"]
        for overlay in OVERLAYS
    }
    assert minimum["production"] >= 2
    assert minimum["production"] > minimum["staging"]


# Names ------------------------------------------------------------------------------------


def strings(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_project_with_another_name_derives_every_name_and_label_from_it(
    bake: Bake, kubectl: str, overlay: str
) -> None:
    project = baked_project(bake, project_name=OTHER_NAME)
    assert project.name == OTHER_SLUG
    manifests = render(kubectl, project / "deploy" / "kubernetes" / "overlays" / overlay)
    for manifest in manifests:
        metadata = manifest["metadata"]
        kind = manifest["kind"]
        assert metadata["name"].startswith(OTHER_SLUG), kind
        assert metadata["labels"]["app.kubernetes.io/name"] == OTHER_SLUG, kind
        assert (
            metadata["labels"].get("app.kubernetes.io/instance", OTHER_SLUG).startswith(OTHER_SLUG)
        ), kind
        if kind != "Namespace":
            assert metadata["namespace"] == f"{OTHER_SLUG}-{overlay}", kind
        selector = manifest.get("spec", {}).get("selector", {})
        for key, value in selector.get("matchLabels", selector).items():
            if key == "app.kubernetes.io/name":
                assert value == OTHER_SLUG, kind
    deployment = one(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert api_container(manifests)["image"].startswith(f"{OTHER_SLUG}:")
    assert {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v} == {
        f"{OTHER_SLUG}-api-keys"
    }
    text = yaml.safe_dump_all(manifests)
    assert "iris" not in text, "the default project's name leaked into another project"
    for value in strings(manifests):
        for path_part in re.findall(r"/(?:etc|var/run)/([\w-]+)/", value):
            assert path_part == OTHER_SLUG


# Updates ---------------------------------------------------------------------------------


def test_updating_a_project_made_before_the_manifests_brings_them_without_conflict(
    tmp_path: Path, isolated_git: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Template 0.0.1 is today's without `deploy/` (as the template was before it had one);
    0.0.2 is today's. A project made from 0.0.1, with its own README edit, is updated."""
    templates = tmp_path / "cache" / "templates"
    templates.mkdir(parents=True)
    old = stage(bundled_template(), templates / "staging").rename(templates / OLD)
    shutil.rmtree(old / PROJECT_DIR / "deploy")
    stage(bundled_template(), templates / "staging2").rename(templates / NEW)
    project = make_old_project(tmp_path / "cache", tmp_path / "projects")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n\nOn call: the risk team.\n")
    commit(project)
    monkeypatch.setenv("MLPROD_CACHE_DIR", str(tmp_path / "cache"))

    result = CliRunner().invoke(app, ["update", "--project", str(project), "--to", NEW])

    assert result.exit_code == 0, result.output
    added = sorted(
        line.split()[1] for line in result.output.splitlines() if line.strip().startswith("added")
    )
    expected = sorted(
        str(path.relative_to(templates / NEW / PROJECT_DIR))
        for path in (templates / NEW / PROJECT_DIR / "deploy").rglob("*")
        if path.is_file()
    )
    assert added == expected
    assert "conflict" not in result.output
    assert readme.read_text().endswith("On call: the risk team.\n")
    staging = project / "deploy" / "kubernetes" / "overlays" / "staging"
    assert "namespace: iris-classifier-staging" in (staging / "kustomization.yaml").read_text()
