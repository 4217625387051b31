"""Package a project for release: sdist and wheel, the model bundle, SHA256SUMS, an image.

The output folder holds the sdist and wheel, ``models/<model-name>-<version>.tar.gz``
(in a folder of its own: for a one-word project the sdist would have the same name) and
``SHA256SUMS``, which ``sha256sum -c`` checks from that folder.

Everything is made in a scratch folder first and moved into the output folder only when
all of it succeeded, so a failure leaves nothing half-written. The version packaged is the
one the project names (`[tool.mlprod] model_version`): its trained artifact and manifest
go into the bundle, and the image is pinned to serve exactly it.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli.errors import UserError
from mlprod_cli.project import MODELS, Project  # the bundles' folder is named as the project's
from mlprod_cli.project.environment import find_uv
from mlprod_cli.project.files import write_files
from mlprod_cli.project.models import TrainedModel, find_trained_model, sha256_file
from mlprod_cli.release.kubernetes import ImagePin, Overlay, find_overlay

CHECKSUMS = "SHA256SUMS"
ENGINE_TIMEOUT = 20.0
BUILD_TIMEOUT = 1800.0

Progress = Callable[[str], None]


class PackageError(UserError):
    """The project cannot be packaged as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Made:
    """One thing `package` made: a file (its path) or an image (its reference)."""

    kind: str
    """``wheel``, ``sdist``, ``model``, ``checksums`` or ``image``."""
    path: str
    size: int
    """Bytes: the file's, or the image's as the engine reports it."""
    sha256: str
    """The file's SHA-256; for an image, its id (the SHA-256 of its configuration)."""
    digest: str | None = None
    """For an image, its manifest's digest (``sha256:...``) when the engine gives one."""

    def to_dict(self) -> dict[str, Any]:
        made = {"kind": self.kind, "path": self.path, "size": self.size, "sha256": self.sha256}
        return {**made, "digest": self.digest} if self.digest else made


@dataclass(frozen=True)
class Packaged:
    """The outcome of `package`."""

    model: TrainedModel
    out_dir: Path
    made: tuple[Made, ...]
    image_skipped: str | None
    """Why no image was built, when none was (None when one was, or --no-image)."""
    pinned: tuple[Overlay, ImagePin] | None = None
    """The Kubernetes overlay pinned to the image (``--kubernetes``), and to what."""


def trained_model(project: Project) -> TrainedModel:
    """The project's model version (`model_version`), its artifact checked against its manifest."""
    model = find_trained_model(project, option=None)
    model.verified_artifact()
    return model


def image_reference(project: Project) -> str:
    """``<slug>:<model version>``; `+` (build metadata) is not allowed in a tag, `_` is."""
    return f"{project.slug}:{project.model_version.replace('+', '_')}"


def engine_problem(docker: str = "docker") -> str | None:
    """Why no container engine can build images here, or None when one answers."""
    if shutil.which(docker) is None:
        return f"no `{docker}` command on PATH"
    try:
        answer = subprocess.run(
            [docker, "version"], capture_output=True, text=True, timeout=ENGINE_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return f"`{docker} version` did not answer within {ENGINE_TIMEOUT:.0f} s"
    if answer.returncode != 0:
        return f"`{docker} version` failed: {_last_line(answer.stderr or answer.stdout)}"
    return None


def build_distributions(project: Project, out_dir: Path) -> list[Path]:
    """The sdist, then the wheel built from it, by `build` in an isolated environment.

    PEP 517 with isolation: `build` makes a fresh environment holding only the project's
    `[build-system] requires`, so the result does not depend on what the project's own
    `.venv` happens to hold. With uv at hand, that environment is made by uv (its cache
    makes it take seconds).
    """
    command = [sys.executable, "-m", "build", "--outdir", str(out_dir), str(project.root)]
    environ = dict(os.environ)
    uv = find_uv()
    if uv:
        command[3:3] = ["--installer", "uv"]
        environ["PATH"] = os.pathsep.join([str(Path(uv).parent), environ.get("PATH", "")])
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, env=environ, timeout=BUILD_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise PackageError(f"python -m build did not finish within {BUILD_TIMEOUT:.0f} s") from None
    if result.returncode != 0:
        raise PackageError(
            "building the sdist and wheel failed (python -m build): "
            f"{_last_line(result.stderr or result.stdout)}"
        )
    return sorted(out_dir.iterdir())


def bundle_model(model: TrainedModel, out_dir: Path) -> Path:
    """``<name>-<version>.tar.gz``: the artifact(s) and manifest, ready to untar into models/.

    Owners, modes and the gzip header are fixed, so the same files give the same bundle.
    """
    bundle = out_dir / f"{model.name}-{model.version}.tar.gz"
    with (
        bundle.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as tar,
    ):
        for path in model.files:
            info = tar.gettarinfo(str(path), arcname=path.name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with path.open("rb") as file:
                tar.addfile(info, file)
    return bundle


def write_checksums(out_dir: Path, files: Sequence[Path]) -> Path:
    """``SHA256SUMS`` in the format `sha256sum -c` reads: ``<hex>  <path>`` per file.

    Paths are relative to ``out_dir``, where the check is run.
    """
    lines = "".join(
        f"{sha256_file(path)}  {path.relative_to(out_dir).as_posix()}\n" for path in files
    )
    target = out_dir / CHECKSUMS
    staged = out_dir / f".{CHECKSUMS}.tmp"
    staged.write_text(lines, encoding="utf-8")
    staged.replace(target)
    return target


def build_image(project: Project, reference: str, docker: str = "docker") -> Made:
    """`docker build` of the project's Dockerfile, pinned to serve its model version."""
    if not (project.root / "Dockerfile").is_file():
        raise PackageError(f"no Dockerfile in {project.root}; pass --no-image to skip the image")
    command = [
        docker, "build", "--tag", reference,
        "--build-arg", f"MODEL_VERSION={project.model_version}", str(project.root),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise PackageError(
            f"`{docker} build` did not finish within {BUILD_TIMEOUT:.0f} s"
        ) from None
    if result.returncode != 0:
        raise PackageError(f"`{docker} build` failed: {_last_line(result.stderr or result.stdout)}")
    inspect = subprocess.run(
        [docker, "image", "inspect", reference], capture_output=True, text=True, check=False
    )
    if inspect.returncode != 0:
        raise PackageError(f"`{docker} image inspect {reference}` failed after the build")
    described = json.loads(inspect.stdout)[0]
    return Made(
        kind="image",
        path=reference,
        size=int(described["Size"]),
        sha256=str(described["Id"]).removeprefix("sha256:"),
        digest=repo_digest(reference, described.get("RepoDigests") or []),
    )


def repo_digest(reference: str, repo_digests: Sequence[str]) -> str | None:
    """The digest among the engine's ``RepoDigests`` (``<repository>@sha256:...``) whose
    repository is the reference's name (podman adds ``localhost/``, Docker ``docker.io/``)."""
    name = reference.rpartition(":")[0] or reference
    for entry in repo_digests:
        repository, _, digest = str(entry).partition("@")
        if digest.startswith("sha256:") and (repository == name or repository.endswith(f"/{name}")):
            return digest
    return None


def package(
    project: Project,
    out_dir: Path,
    *,
    image: bool | None = None,
    kubernetes: str | None = None,
    progress: Progress = lambda message: None,
) -> Packaged:
    """Build everything into a scratch folder, then move it into ``out_dir``.

    ``image``: True builds the image and needs an engine; None (the default) builds it when
    an engine answers, and otherwise says why not; False never builds it.
    ``kubernetes``: an overlay of ``deploy/kubernetes/overlays/`` to pin to the image built
    and the model version packaged; it needs the image, and is written last, only when
    everything else succeeded.
    """
    model = trained_model(project)
    if out_dir.exists() and not out_dir.is_dir():
        raise PackageError(f"--out {out_dir} is a file, not a folder")
    overlay = find_overlay(project.root, kubernetes) if kubernetes is not None else None
    if overlay and image is False:
        raise PackageError(
            f"--kubernetes {kubernetes} pins the overlay to the image built: drop --no-image"
        )
    problem = engine_problem() if image is not False else None
    if image is True and problem:
        raise PackageError(f"--image needs a container engine: {problem}; or pass --no-image")
    if overlay and problem:
        raise PackageError(
            f"--kubernetes {kubernetes} needs the image, so a container engine: {problem}"
        )
    with tempfile.TemporaryDirectory(prefix="mlprod-package-") as scratch:
        staging = Path(scratch)
        progress(f"Building the sdist and wheel of {project.slug} (python -m build)")
        distributions = build_distributions(project, staging / "dist")
        (staging / MODELS).mkdir()
        bundle = bundle_model(model, staging / MODELS)
        built_image = None
        if image is not False and problem is None:
            reference = image_reference(project)
            progress(f"Building the image {reference} (docker build; the first takes minutes)")
            built_image = build_image(project, reference)
        # The overlay's new text, made before anything is published: a kustomization that
        # cannot be pinned stops the package here, with nothing written.
        pin = image_pin(project, built_image) if overlay and built_image else None
        pinned_text = overlay.pinned(pin) if overlay and pin else None
        kinds = {**{path: _distribution_kind(path) for path in distributions}, bundle: "model"}
        published = _publish(kinds, staging, out_dir)
    checksums = write_checksums(out_dir, list(published))
    made = [_made(kind, path) for path, kind in [*published.items(), (checksums, "checksums")]]
    if built_image:
        made.append(built_image)
    pinned = None
    if overlay and pin and pinned_text is not None:
        write_files({overlay.path: pinned_text})
        pinned = (overlay, pin)
    skipped = None if image is False or built_image else f"no image built: {problem}"
    return Packaged(
        model=model, out_dir=out_dir, made=tuple(made), image_skipped=skipped, pinned=pinned
    )


def image_pin(project: Project, image: Made) -> ImagePin:
    """What an overlay is pinned to: the image built (the base names it by the slug)."""
    name, _, tag = image.path.rpartition(":")
    return ImagePin(
        image_name=project.slug,
        new_name=name,
        tag=tag,
        digest=image.digest,
        model_version=project.model_version,
    )


def _distribution_kind(path: Path) -> str:
    return "wheel" if path.suffix == ".whl" else "sdist"


def _publish(kinds: dict[Path, str], staging: Path, out_dir: Path) -> dict[Path, str]:
    """Copy the staged files into ``out_dir`` (the sdist and wheel at its top, the bundle
    in ``models/``), replacing files of the same names; their new paths and kinds."""
    published = {}
    for path, kind in kinds.items():
        relative = path.relative_to(staging)
        target = out_dir / (relative.name if kind in ("wheel", "sdist") else relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        published[target] = kind
    return published


def _made(kind: str, path: Path) -> Made:
    return Made(kind=kind, path=str(path), size=path.stat().st_size, sha256=sha256_file(path))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
