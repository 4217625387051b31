"""`mlprod package`: the project's sdist and wheel, model bundle, SHA256SUMS and image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlprod_cli import console
from mlprod_cli.commands.options import ProjectOption


def package(
    project_dir: ProjectOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write the files (default: the project's dist/).",
            show_default=False,
        ),
    ] = None,
    image: Annotated[
        bool | None,
        typer.Option(
            "--image/--no-image",
            help="Build the container image <project>:<model version> "
            "(default: when a container engine answers `docker version`).",
            show_default=False,
        ),
    ] = None,
    kubernetes: Annotated[
        str | None,
        typer.Option(
            "--kubernetes",
            metavar="OVERLAY",
            help="Pin deploy/kubernetes/overlays/OVERLAY to the image built (name, tag, digest) "
            "and the model version; written only when the package succeeds.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was made as JSON, for CI.")
    ] = False,
) -> None:
    """Package the project and its trained model for release.

    Writes the sdist and wheel (PEP 517, built by `build` in an isolated environment),
    models/<model>-<version>.tar.gz (the trained artifact and its manifest, for the
    model_version in pyproject.toml) and SHA256SUMS (`sha256sum -c SHA256SUMS` checks
    them), and builds the image, pinned to serve that version. Prints each file's path,
    size and SHA-256. With --kubernetes OVERLAY, that Kustomize overlay's `images:` entry
    and MODEL_VERSION are set to what was built. Nothing is written unless everything
    succeeds.
    """
    from mlprod_cli.project import resolve_project
    from mlprod_cli.release.packaging import package as make_package

    project = resolve_project(project_dir)
    out_dir = (out or project.root / "dist").resolve()
    done = make_package(project, out_dir, image=image, kubernetes=kubernetes, progress=_say)
    if done.image_skipped:
        console.say(f"{done.image_skipped}; wrote the rest (pass --no-image to skip it quietly)")
    rows = [{**made.to_dict(), "path": console.shown(made.path)} for made in done.made]
    if as_json:
        document = {
            "project": project.slug,
            "model": {"name": done.model.name, "version": done.model.version},
            "out": console.shown(done.out_dir),
            "made": rows,
            "image_skipped": done.image_skipped,
        }
        if done.pinned:
            overlay, pin = done.pinned
            document["kubernetes"] = {
                "overlay": console.shown(overlay.path),
                "image": pin.reference,
                "model_version": pin.model_version,
            }
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(
        f"Packaged {project.slug} with model {done.model.name} {done.model.version} "
        f"in {console.shown(done.out_dir)}"
    )
    typer.echo(_table(rows))
    if done.pinned:
        overlay, pin = done.pinned
        typer.echo(
            f"Pinned {console.shown(overlay.path)} to {pin.reference}, "
            f"MODEL_VERSION={pin.model_version}"
        )


def _say(message: str) -> None:
    console.say(f"{message}...")


def _table(rows: list[dict[str, object]]) -> str:
    """Path, size and SHA-256 in aligned columns (an image's path is its reference)."""
    cells = [("path", "size", "sha256")]
    for row in rows:
        path = f"{row['path']} (image)" if row["kind"] == "image" else str(row["path"])
        cells.append((path, console.format_size(int(str(row["size"]))), str(row["sha256"])))
    return console.table(cells, right=(1,))
