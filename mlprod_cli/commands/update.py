"""`mlprod update`: bring the template's changes into a project, keeping its own edits."""

from __future__ import annotations

from typing import Annotated

import typer

from mlprod_cli.commands.options import DryRunFlag, ProjectOption, option


def update(
    project_dir: ProjectOption = None,
    to: Annotated[
        str | None,
        option(
            "--to",
            metavar="VERSION",
            help="The template version to update to (default: this mlprod's).",
        ),
    ] = None,
    dry_run: DryRunFlag = False,
    allow_dirty: Annotated[
        bool,
        option(
            "--allow-dirty", help="Update even when the git repository has uncommitted changes."
        ),
    ] = False,
) -> None:
    """Merge the template's changes since the project was made into the project.

    Renders the project's template as it was and as it is, with the answers in
    .mlprod.json, and merges the difference into each file. Where the project and the
    template changed the same lines, the file gets conflict markers, the command exits
    4 and the new version is recorded only after the next `mlprod update` finds the
    markers gone.
    """
    from mlprod_cli.project import resolve_project
    from mlprod_cli.updating import workflow

    done = workflow.update(
        resolve_project(project_dir), to, dry_run=dry_run, allow_dirty=allow_dirty
    )
    for line in workflow.report(done):
        typer.echo(line)
    workflow.raise_conflicts(done)
