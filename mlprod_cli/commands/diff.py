"""`mlprod diff`: how the project differs from what its template makes today."""

from __future__ import annotations

from pathlib import Path

import typer

from mlprod_cli.commands.options import ProjectOption
from mlprod_cli.errors import reported


def diff(
    project_dir: ProjectOption = None,
) -> None:
    """Show how the project differs from what this mlprod's template makes with its answers.

    A unified diff from the template's files (template/...) to the project's
    (project/...). Files the template does not make are not shown, nor those matching
    [tool.mlprod.update] skip.
    """
    from mlprod_cli import migrations
    from mlprod_cli.project import find_project, load_project
    from mlprod_cli.provenance import Provenance
    from mlprod_cli.template_store import TemplateStore
    from mlprod_cli.updating import installed_version, skip_patterns, template_diff

    with reported():
        project = load_project(project_dir) if project_dir else find_project(Path.cwd())
        lines = template_diff(
            project.root,
            Provenance.read(project.root),
            TemplateStore(),
            migrations.BUNDLED,
            skip_patterns(project.root),
        )
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo(
            f"{project.slug} matches what template {installed_version()} makes with its answers"
        )
