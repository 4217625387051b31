"""`mlprod package --kubernetes OVERLAY`: the overlay pinned to the image built, or untouched.

The project is the least one `package` takes, with the template's `deploy/kubernetes/`
rendered for its name; the sdist and wheel build and the container engine are stand-ins
(as in test_package.py). The real image is built in the gates tier.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml
from projects import PYPROJECT, SLUG
from test_kubernetes import find_kubectl
from typer.testing import CliRunner, Result

from mlprod_cli.main import app
from mlprod_cli.project import Project
from mlprod_cli.release import packaging
from mlprod_cli.release.kubernetes import ImagePin, pin_text
from mlprod_cli.templating.source import bundled_template

VERSION = "0.2.0"
IMAGE_ID = "cd" * 32
DIGEST = "sha256:" + "ef" * 32
ARTIFACT = b"a trained model"
STAGING = Path("deploy/kubernetes/overlays/staging/kustomization.yaml")

FAKE_DOCKER = f"""\
#!/bin/sh
echo "$@" >> "$(dirname "$0")/calls"
case "$1" in
  version) exit 0 ;;
  build) if [ -n "$FAKE_DOCKER_FAIL" ]; then echo "Error: exit status 1" >&2; exit 1; fi ;;
  image) if [ -n "$FAKE_DOCKER_NO_DIGEST" ]; then digests='[]'
         else digests='["localhost/{SLUG}@{DIGEST}"]'; fi
         echo '[{{"Id": "sha256:{IMAGE_ID}", "Size": 1048576, "RepoDigests": '"$digests"'}}]' ;;
esac
"""


def package(*args: str) -> Result:
    return CliRunner().invoke(app, ["package", *args])


def render_deploy(project: Path) -> None:
    """The template's deploy/ folder, rendered for the project's name."""
    template = bundled_template().root / "{{cookiecutter.__project_slug}}"
    context = {"cookiecutter": {"__project_slug": SLUG}}
    for source in (template / "deploy").rglob("*"):
        if source.is_file():
            target = project / source.relative_to(template)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(jinja2.Template(source.read_text()).render(context) + "\n")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / SLUG
    (root / "models").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT.replace('"0.1.0"', f'"{VERSION}"'))
    (root / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (root / "models" / f"{SLUG}-{VERSION}.joblib").write_bytes(ARTIFACT)
    manifest = {
        "name": SLUG,
        "version": VERSION,
        "artifact": {
            "file": f"{SLUG}-{VERSION}.joblib",
            "sha256": hashlib.sha256(ARTIFACT).hexdigest(),
        },
    }
    (root / "models" / f"{SLUG}-{VERSION}.json").write_text(json.dumps(manifest))
    render_deploy(root)
    monkeypatch.chdir(root)
    return root


@pytest.fixture(autouse=True)
def builds(monkeypatch: pytest.MonkeyPatch) -> None:
    def build_distributions(project: Project, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True)
        (out_dir / "w-0-py3-none-any.whl").write_bytes(b"wheel")
        return [out_dir / "w-0-py3-none-any.whl"]

    monkeypatch.setattr(packaging, "build_distributions", build_distributions)


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir / "calls"


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def test_the_overlay_gets_the_image_built_its_digest_and_the_model_version(
    project: Path, fake_docker: Path
) -> None:
    before = (project / STAGING).read_text()

    result = package("--kubernetes", "staging")

    assert result.exit_code == 0, result.output
    after = (project / STAGING).read_text()
    assert result.stdout.splitlines()[-1] == (
        f"Pinned {STAGING} to {SLUG}:{VERSION}@{DIGEST}, MODEL_VERSION={VERSION}"
    )
    document = yaml.safe_load(after)
    assert document["images"] == [
        {"name": SLUG, "newName": SLUG, "newTag": VERSION, "digest": DIGEST}
    ]
    (serving,) = document["configMapGenerator"]
    assert f"MODEL_VERSION={VERSION}" in serving["literals"]
    assert comments(after) == comments(before)
    changed = {line for line in after.splitlines()} - set(before.splitlines())
    assert changed == {
        f'    newTag: "{VERSION}"',
        f"    digest: {DIGEST}",
        f"      - MODEL_VERSION={VERSION}",
    }
    production = project / "deploy/kubernetes/overlays/production/kustomization.yaml"
    assert "digest" not in yaml.safe_load(production.read_text())["images"][0]


def test_kustomize_renders_the_pinned_image_by_its_digest(project: Path, fake_docker: Path) -> None:
    kubectl, why = find_kubectl()
    if kubectl is None:
        pytest.skip(why)
    assert package("--kubernetes", "staging").exit_code == 0
    rendered = subprocess.run(
        [kubectl, "kustomize", str((project / STAGING).parent)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    objects = {item["kind"]: item for item in yaml.safe_load_all(rendered)}
    (container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{SLUG}:{VERSION}@{DIGEST}"  # the digest is what is pulled
    assert objects["ConfigMap"]["data"]["MODEL_VERSION"] == VERSION


def test_an_engine_without_a_digest_pins_the_tag_and_drops_an_old_digest(
    project: Path, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert package("--kubernetes", "staging").exit_code == 0
    monkeypatch.setenv("FAKE_DOCKER_NO_DIGEST", "1")

    result = package("--kubernetes", "staging")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith(f"Pinned {STAGING} to {SLUG}:{VERSION},")
    images = yaml.safe_load((project / STAGING).read_text())["images"]
    assert images == [{"name": SLUG, "newName": SLUG, "newTag": VERSION}]


def test_json_says_what_the_overlay_was_pinned_to(project: Path, fake_docker: Path) -> None:
    result = package("--kubernetes", "production", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["kubernetes"] == {
        "overlay": "deploy/kubernetes/overlays/production/kustomization.yaml",
        "image": f"{SLUG}:{VERSION}@{DIGEST}",
        "model_version": VERSION,
    }
    assert document["made"][-1]["digest"] == DIGEST


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kubernetes", "qa"],
            "mlprod: --kubernetes qa: no deploy/kubernetes/overlays/qa/kustomization.yaml "
            "(overlays here: production, staging)",
        ),
        (
            ["--kubernetes", "../base"],
            "mlprod: --kubernetes ../base: no "
            "deploy/kubernetes/overlays/../base/kustomization.yaml "
            "(overlays here: production, staging)",
        ),
        (
            ["--kubernetes", "staging", "--no-image"],
            "mlprod: --kubernetes staging pins the overlay to the image built: drop --no-image",
        ),
    ],
)
def test_refusals_write_nothing(
    project: Path, fake_docker: Path, args: list[str], message: str
) -> None:
    before = (project / STAGING).read_text()
    result = package(*args)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [message]
    assert not (project / "dist").exists()
    assert not fake_docker.exists(), "nothing was built"
    assert (project / STAGING).read_text() == before


def test_without_an_engine_it_refuses_before_building(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = package("--kubernetes", "staging")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "mlprod: --kubernetes staging needs the image, so a container engine: "
        "no `docker` command on PATH"
    ]
    assert not (project / "dist").exists()


def test_a_failed_build_leaves_the_overlay_as_it_was(
    project: Path, fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (project / STAGING).read_text()
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "1")
    result = package("--kubernetes", "staging")
    assert result.exit_code == 1
    assert (project / STAGING).read_text() == before
    assert not (project / "dist").exists()


def test_an_overlay_that_cannot_be_pinned_stops_the_package_before_anything_is_written(
    project: Path, fake_docker: Path
) -> None:
    (project / STAGING).write_text("resources: [../../base]\nimages: {oops: 1}\n")
    result = package("--kubernetes", "staging")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"mlprod: {project / STAGING}: `images` is not a list; fix it, then package"
    )
    assert not (project / "dist").exists()


def test_invalid_yaml_is_refused_before_building(project: Path, fake_docker: Path) -> None:
    (project / STAGING).write_text("images:\n  - name: [unclosed\n")
    result = package("--kubernetes", "staging")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(f"mlprod: {project / STAGING} is not valid")
    assert not fake_docker.exists()


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_pinning_to_the_same_values_changes_no_byte(project: Path, overlay: str) -> None:
    path = project / "deploy" / "kubernetes" / "overlays" / overlay / "kustomization.yaml"
    text = path.read_text()
    pin = ImagePin(SLUG, SLUG, "0.1.0", None, "0.1.0")
    assert pin_text(text, pin, path) == text


def test_an_overlay_without_entries_gets_them(tmp_path: Path) -> None:
    text = "# ours\nresources:\n  - ../../base\n"
    pinned = pin_text(text, ImagePin(SLUG, "registry/x", "1.0.0", DIGEST, "1.0.0"), tmp_path)
    assert pinned.startswith(text)
    assert yaml.safe_load(pinned) == {
        "resources": ["../../base"],
        "images": [{"name": SLUG, "newName": "registry/x", "newTag": "1.0.0", "digest": DIGEST}],
        "configMapGenerator": [
            {"name": f"{SLUG}-serving", "behavior": "merge", "literals": ["MODEL_VERSION=1.0.0"]}
        ],
    }
