"""An update from start to end, and what it says: `mlprod update` calls `update` and prints.

Either the pending update is finished (its conflicts resolved), or the project is
already current, or a new update is planned, checked and (unless a dry run) written.
Conflicts are raised after the report is printed, by `raise_conflicts`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mlprod_cli.project import Project
from mlprod_cli.templating.provenance import Provenance
from mlprod_cli.updating.plan import Conflicts, Plan


@dataclass(frozen=True)
class Outcome:
    """What `update` did: exactly one of finished, current, or a plan."""

    slug: str
    recorded: Provenance
    dry_run: bool
    finished: str | None = None
    """The pending update's template version, recorded now."""
    current: str | None = None
    """The version the project is already at."""
    plan: Plan | None = None


def update(project: Project, to: str | None, *, dry_run: bool, allow_dirty: bool) -> Outcome:
    """Update `project` to template `to` (default: this mlprod's); see the module's doc."""
    from mlprod_cli.templating.store import TemplateStore
    from mlprod_cli.updating import migrations
    from mlprod_cli.updating.apply import apply, check_clean, finish, require_git
    from mlprod_cli.updating.plan import plan_update
    from mlprod_cli.updating.versions import installed_version, is_current, target_version

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
        return Outcome(project.slug, recorded, dry_run, finished=pending.template_version)
    target = target_version(recorded, to)
    if is_current(recorded, target):
        return Outcome(project.slug, recorded, dry_run, current=target)
    require_git()
    if not dry_run and not allow_dirty:
        check_clean(project.root)
    skip = project.update_skip
    plan = plan_update(project.root, recorded, target, TemplateStore(), migrations.BUNDLED, skip)
    if not dry_run:
        apply(plan, plan.provenance(recorded, installed_version()))
    return Outcome(project.slug, recorded, dry_run, plan=plan)


def report(done: Outcome) -> Iterator[str]:
    """The lines `mlprod update` prints on stdout."""
    dry = done.dry_run
    if done.finished is not None:
        yield (
            f"{'Would record' if dry else 'Recorded'} template {done.finished} in .mlprod.json: "
            f"the update of {done.slug} from template {done.recorded.template_version} "
            "is complete"
        )
        return
    if done.current is not None:
        yield f"{done.slug} is already at template {done.current}; nothing to update"
        return
    plan = done.plan
    assert plan is not None
    if dry:
        yield (
            f"Would update {done.slug} from template {plan.old} to {plan.new} "
            "(dry run: nothing changed)"
        )
    else:
        yield f"Updated {done.slug} from template {plan.old} to {plan.new}"
    for step in plan.migrations:
        yield f"{'Would run' if dry else 'Ran'} migration {step.version}: {step.summary}"
    for change in plan.changes:
        note = f" ({change.note})" if change.note else ""
        yield f"  {change.action.value:<12} {change.path}{note}"
    if not plan.changes:
        yield "  no file changes"
    if plan.conflicts:
        kept = "Would leave" if dry else "Left"
        yield f"{kept} template {plan.old} in .mlprod.json until the conflicts are resolved"
    else:
        yield f"{'Would record' if dry else 'Recorded'} template {plan.new} in .mlprod.json"


def raise_conflicts(done: Outcome) -> None:
    """A `Conflicts` error (exit code 4) when the update left, or would leave, conflicts."""
    if done.plan is None or not done.plan.conflicts:
        return
    conflicts = done.plan.conflicts
    files = f"{len(conflicts)} file{'s' if len(conflicts) > 1 else ''}"
    listed = ", ".join(conflicts)
    if done.dry_run:
        raise Conflicts(
            f"{files} would be left with conflicts ({listed}); nothing was changed (dry run)"
        )
    raise Conflicts(
        f"{files} left with conflicts ({listed}); resolve them, then run "
        f"`mlprod update` again to record template {done.plan.new}"
    )
