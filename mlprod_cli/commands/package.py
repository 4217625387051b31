"""`mlprod package`: the project's sdist and wheel, model bundle, SHA256SUMS and image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlprod_cli.commands.options import ProjectOption
from mlprod_cli.errors import reported


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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print what was made as JSON, for CI.")
    ] = False,
) -> None:
    """Package the project and its trained model for release.

    Writes the sdist and wheel (PEP 517, built by `build` in an isolated environment),
    models/<model>-<version>.tar.gz (the trained artifact and its manifest, for the
    model_version in pyproject.toml) and SHA256SUMS (`sha256sum -c SHA256SUMS` checks
    them), and builds the image, pinned to serve that version. Prints each file's path,
    size and SHA-256. Nothing is written unless everything succeeds.
    """
    from mlprod_cli.packaging import package as make_package
    from mlprod_cli.project import find_project, load_project

    with reported():
        project = load_project(project_dir) if project_dir else find_project(Path.cwd())
        out_dir = (out or project.root / "dist").resolve()
        done = make_package(project, out_dir, image=image, progress=_say)
    if done.image_skipped:
        typer.echo(
            f"{done.image_skipped}; wrote the rest (pass --no-image to skip it quietly)", err=True
        )
    rows = [{**made.to_dict(), "path": _shown(made.path)} for made in done.made]
    if as_json:
        document = {
            "project": project.slug,
            "model": {"name": done.model.name, "version": done.model.version},
            "out": _shown(str(done.out_dir)),
            "made": rows,
            "image_skipped": done.image_skipped,
        }
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(
        f"Packaged {project.slug} with model {done.model.name} {done.model.version} "
        f"in {_shown(str(done.out_dir))}"
    )
    typer.echo(_table(rows))


def _say(message: str) -> None:
    typer.echo(f"{message}...", err=True)


def _table(rows: list[dict[str, object]]) -> str:
    """Path, size and SHA-256 in aligned columns (an image's path is its reference)."""
    cells = [("path", "size", "sha256")]
    for row in rows:
        path = f"{row['path']} (image)" if row["kind"] == "image" else str(row["path"])
        cells.append((path, _size(int(str(row["size"]))), str(row["sha256"])))
    path_width = max(len(cell[0]) for cell in cells)
    size_width = max(len(cell[1]) for cell in cells)
    return "\n".join(
        f"{path:<{path_width}}  {size:>{size_width}}  {sha256}" for path, size, sha256 in cells
    )


def _size(size: int) -> str:
    """Bytes below 1 kB, else kB, MB or GB with one decimal (powers of 1000, as `ls --si`)."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _shown(path: str) -> str:
    """A file path relative to the current folder when it is inside it; an image as it is."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return path
    here = Path.cwd().resolve()
    return str(candidate.relative_to(here)) if candidate.is_relative_to(here) else path
