"""`mlprod diff`: how the project differs from what its template makes today."""

from __future__ import annotations

import typer

from mlprod_cli.commands.options import ProjectOption


def diff(
    project_dir: ProjectOption = None,
) -> None:
    """Show how the project differs from what this mlprod's template makes with its answers.

    A unified diff from the template's files (template/...) to the project's
    (project/...). Files the template does not make are not shown, nor those matching
    [tool.mlprod.update] skip.
    """
    from mlprod_cli.project import resolve_project
    from mlprod_cli.templating.provenance import Provenance
    from mlprod_cli.templating.store import TemplateStore
    from mlprod_cli.updating import migrations
    from mlprod_cli.updating.plan import template_diff
    from mlprod_cli.updating.versions import installed_version

    project = resolve_project(project_dir)
    lines = template_diff(
        project.root,
        Provenance.read(project.root),
        TemplateStore(),
        migrations.BUNDLED,
        project.update_skip,
    )
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo(
            f"{project.slug} matches what template {installed_version()} makes with its answers"
        )
