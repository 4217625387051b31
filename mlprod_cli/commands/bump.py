"""`mlprod bump`: the model's semantic version, in `pyproject.toml` and `CHANGELOG.md`."""

from __future__ import annotations

from typing import Annotated

import typer

from mlprod_cli.commands.options import DryRunFlag, ProjectOption
from mlprod_cli.console import shown
from mlprod_cli.release.versioning import DEFAULT_NOTE, Bump, Part


def bump(
    part: Annotated[
        Part,
        typer.Argument(
            metavar="PART",
            help="major, minor or patch; prerelease (-rc.N); release (drop -rc.N).",
            show_default=False,
        ),
    ],
    project_dir: ProjectOption = None,
    dry_run: DryRunFlag = False,
    tag: Annotated[
        bool,
        typer.Option(
            "--tag",
            help="Commit the two files and tag the commit model-v<version> "
            "(needs a git repository with no uncommitted changes).",
        ),
    ] = False,
    message: Annotated[
        str,
        typer.Option(
            "--message",
            "-m",
            help="What changed in the model or its data, for the changelog line.",
            show_default=False,
        ),
    ] = DEFAULT_NOTE,
) -> None:
    """Bump the model's version and note it in CHANGELOG.md.

    The version is [tool.mlprod] model_version in the project's pyproject.toml.
    Both files change, or neither. Prints the old and the new version.
    """
    from datetime import date

    from mlprod_cli.project import resolve_project
    from mlprod_cli.release.versioning import bump_model_version

    project = resolve_project(project_dir)
    done = bump_model_version(project, part, date.today(), message, tag=tag, dry_run=dry_run)
    _report(done, tag=tag, dry_run=dry_run)


def _report(done: Bump, *, tag: bool, dry_run: bool) -> None:
    pyproject = shown(done.pyproject.path)
    changelog = shown(done.changelog.path) + (
        " (a new file)" if done.changelog.before is None else ""
    )
    if dry_run:
        typer.echo(f"{done.old} -> {done.new} (dry run: nothing changed)")
        typer.echo(f'Would set model_version = "{done.new}" in {pyproject}')
        typer.echo(f"Would add to {changelog}, under Unreleased:")
    else:
        typer.echo(f"{done.old} -> {done.new}")
        typer.echo(f'Set model_version = "{done.new}" in {pyproject}')
        typer.echo(f"Added to {changelog}, under Unreleased:")
    typer.echo(f"  {done.entry}")
    if tag:
        verb, tagged = ("Would commit", "tag") if dry_run else ("Committed", "tagged")
        typer.echo(f'{verb} "{done.commit_message}" and {tagged} it {done.tag}')
