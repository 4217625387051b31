"""`mlprod update`: bring the template's changes into a project, keeping its own edits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlprod_cli.commands.options import ProjectOption
from mlprod_cli.errors import reported

if TYPE_CHECKING:
    from mlprod_cli.updating import Plan


def update(
    project_dir: ProjectOption = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="VERSION",
            help="The template version to update to (default: this mlprod's).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would change, and change nothing.")
    ] = False,
    allow_dirty: Annotated[
        bool,
        typer.Option(
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
    from mlprod_cli import migrations
    from mlprod_cli.project import find_project, load_project
    from mlprod_cli.provenance import Provenance
    from mlprod_cli.template_store import TemplateStore
    from mlprod_cli.updating import (
        Conflicts,
        apply,
        check_clean,
        finish,
        installed_version,
        is_current,
        plan_update,
        require_git,
        skip_patterns,
        target_version,
    )

    with reported():
        project = load_project(project_dir) if project_dir else find_project(Path.cwd())
        recorded = Provenance.read(project.root)
        pending = recorded.pending_update
        if pending is not None:
            if to is not None and to != pending.template_version:
                raise Conflicts(
                    f"the update to template {pending.template_version} is not finished; "
                    "resolve its conflicts and run `mlprod update`, or undo it with git, "
                    f"before updating to {to}"
                )
            finish(project.root, recorded, installed_version(), dry_run=dry_run)
            verb = "Would record" if dry_run else "Recorded"
            typer.echo(
                f"{verb} template {pending.template_version} in .mlprod.json: the update of "
                f"{project.slug} from template {recorded.template_version} is complete"
            )
            return
        target = target_version(recorded, to)
        if is_current(recorded, target):
            typer.echo(f"{project.slug} is already at template {target}; nothing to update")
            return
        require_git()
        if not dry_run and not allow_dirty:
            check_clean(project.root)
        plan = plan_update(
            project.root,
            recorded,
            target,
            TemplateStore(),
            migrations.BUNDLED,
            skip_patterns(project.root),
        )
        if not dry_run:
            apply(plan, plan.provenance(recorded, installed_version()))
    _report(plan, project.slug, dry_run)
    if plan.conflicts:
        count = len(plan.conflicts)
        files = f"{count} file{'s' if count > 1 else ''}"
        listed = ", ".join(plan.conflicts)
        with reported():
            if dry_run:
                raise Conflicts(
                    f"{files} would be left with conflicts ({listed}); "
                    "nothing was changed (dry run)"
                )
            raise Conflicts(
                f"{files} left with conflicts ({listed}); resolve them, then run "
                f"`mlprod update` again to record template {plan.new}"
            )


def _report(plan: Plan, slug: str, dry_run: bool) -> None:
    if dry_run:
        typer.echo(
            f"Would update {slug} from template {plan.old} to {plan.new} (dry run: nothing changed)"
        )
    else:
        typer.echo(f"Updated {slug} from template {plan.old} to {plan.new}")
    for step in plan.migrations:
        typer.echo(f"{'Would run' if dry_run else 'Ran'} migration {step.version}: {step.summary}")
    for change in plan.changes:
        note = f" ({change.note})" if change.note else ""
        typer.echo(f"  {change.action.value:<12} {change.path}{note}")
    if not plan.changes:
        typer.echo("  no file changes")
    if plan.conflicts:
        kept = "Would leave" if dry_run else "Left"
        typer.echo(f"{kept} template {plan.old} in .mlprod.json until the conflicts are resolved")
    else:
        typer.echo(
            f"{'Would record' if dry_run else 'Recorded'} template {plan.new} in .mlprod.json"
        )
