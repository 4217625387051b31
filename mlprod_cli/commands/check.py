"""`mlprod check`: is the project's template behind the installed mlprod's?"""

from __future__ import annotations

import typer

from mlprod_cli.commands.options import JsonFlag, ProjectOption


def check(
    project_dir: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Say whether the project was made from an older template than this mlprod's.

    Exit codes: 0 current, 3 behind (run `mlprod update`), 1 on an error, so a CI job
    can flag projects that missed template fixes.
    """
    import json

    from mlprod_cli.project import resolve_project
    from mlprod_cli.templating.provenance import Provenance
    from mlprod_cli.updating.versions import EXIT_BEHIND, status

    project = resolve_project(project_dir)
    found = status(Provenance.read(project.root))
    if as_json:
        report = {
            "project": str(project.root),
            "status": "behind" if found.behind else "current",
            "template_version": found.recorded,
            "installed_version": found.installed,
            "pending_update": found.pending,
        }
        typer.echo(json.dumps(report, indent=2))
    elif found.behind:
        typer.echo(
            f"{project.slug} is behind: made from template {found.recorded}, "
            f"and mlprod {found.installed} has template {found.installed}; "
            "run `mlprod update` to bring its changes in"
        )
        if found.pending:
            typer.echo(
                f"An update to template {found.pending} is waiting on its conflicts: resolve "
                "them, then run `mlprod update` again"
            )
    else:
        typer.echo(f"{project.slug} is current: template {found.recorded}")
    if found.behind:
        raise typer.Exit(EXIT_BEHIND)
