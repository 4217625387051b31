"""Updates of a project made from template 0.0.1, through the plain functions of `updating`.

The template versions are the fixtures of `template_versions`: every template change
there is known, so each test states exactly what the project ends up with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from gitrepos import tree_bytes
from template_versions import (
    DOCKERFILE_LINE,
    MOVED,
    NEW,
    NEW_BYTES,
    NEW_HARAKIRI,
    NEW_TITLE,
    OLD,
    OLD_BYTES,
    PACKAGE,
    RUNBOOK,
    commit,
)

from mlprod_cli.errors import UserError
from mlprod_cli.project import load_project
from mlprod_cli.templating.provenance import PendingUpdate, Provenance
from mlprod_cli.templating.store import TemplateStore
from mlprod_cli.updating.apply import apply, finish
from mlprod_cli.updating.migrations import Migration
from mlprod_cli.updating.plan import Action, Conflicts, Plan, plan_update, skipped_by
from mlprod_cli.updating.versions import installed_version, status, target_version

OWN_NOTES = "\n## Our notes\n\nOn call: the risk team.\n"


def update(project: Path, version: str, migrations: Sequence[Migration] = ()) -> Plan:
    recorded = Provenance.read(project)
    plan = plan_update(
        project, recorded, version, TemplateStore(), migrations, load_project(project).update_skip
    )
    apply(plan, plan.provenance(recorded, installed_version()))
    return plan


def actions(plan: Plan) -> dict[str, Action]:
    return {change.path: change.action for change in plan.changes}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_update_keeps_the_projects_edits_and_brings_the_templates_changes(
    old_project: Path,
) -> None:
    readme = old_project / "README.md"
    readme.write_text(readme.read_text() + OWN_NOTES)
    cli = old_project / "src" / PACKAGE / "cli.py"
    cli.write_text(cli.read_text() + "# our own addition\n")
    commit(old_project)

    plan = update(old_project, NEW)

    assert readme.read_text().splitlines()[0] == NEW_TITLE
    assert readme.read_text().endswith(OWN_NOTES)
    assert cli.read_text().endswith("\n# our own addition\n")
    assert NEW_HARAKIRI in (old_project / "uwsgi.ini").read_text().splitlines()
    assert (old_project / "docs" / "runbook.md").read_text() == RUNBOOK
    assert (old_project / "Dockerfile").read_text().endswith(f"\n{DOCKERFILE_LINE}\n")
    assert not (old_project / "tox.ini").exists()
    assert (old_project / "data" / "sample.bin").read_bytes() == NEW_BYTES
    assert actions(plan) == {
        "Dockerfile": Action.UPDATED,
        "README.md": Action.MERGED,
        "data/sample.bin": Action.UPDATED,
        "docs/runbook.md": Action.ADDED,
        "tox.ini": Action.DELETED,
        "uwsgi.ini": Action.UPDATED,
    }
    recorded = Provenance.read(old_project)
    assert (recorded.template_version, recorded.mlprod_version) == (NEW, installed_version())
    assert recorded.pending_update is None


def test_the_same_lines_changed_on_both_sides_are_a_conflict_and_the_version_waits(
    old_project: Path,
) -> None:
    readme = old_project / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    readme.write_text("".join(["# Our own title\n", *lines[1:]]))
    commit(old_project)

    plan = update(old_project, NEW)

    assert plan.conflicts == ["README.md"]
    assert readme.read_text() == "".join(
        [
            "<<<<<<< yours\n",
            "# Our own title\n",
            "=======\n",
            f"{NEW_TITLE}\n",
            f">>>>>>> template {NEW}\n",
            *lines[1:],
        ]
    )
    assert NEW_HARAKIRI in (old_project / "uwsgi.ini").read_text().splitlines()
    recorded = Provenance.read(old_project)
    assert recorded.template_version == OLD
    assert recorded.pending_update == PendingUpdate(NEW, recorded.answers, ["README.md"])


def test_finishing_records_the_version_once_the_markers_are_gone(old_project: Path) -> None:
    readme = old_project / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    readme.write_text("".join(["# Our own title\n", *lines[1:]]))
    commit(old_project)
    update(old_project, NEW)

    with pytest.raises(Conflicts) as caught:
        finish(old_project, Provenance.read(old_project), installed_version())
    assert str(caught.value) == (
        f"the update to template {NEW} still has conflict markers in README.md; "
        "resolve them, then run `mlprod update` again"
    )
    assert caught.value.exit_code == 4
    assert Provenance.read(old_project).template_version == OLD

    readme.write_text("".join(["# Our own title\n", *lines[1:]]))
    done = finish(old_project, Provenance.read(old_project), installed_version())
    assert Provenance.read(old_project) == done
    assert (done.template_version, done.pending_update) == (NEW, None)


def test_a_file_the_project_deleted_stays_deleted(old_project: Path) -> None:
    (old_project / "Dockerfile").unlink()
    commit(old_project)

    plan = update(old_project, NEW)

    assert not (old_project / "Dockerfile").exists()
    (kept,) = [change for change in plan.changes if change.path == "Dockerfile"]
    assert (kept.action, kept.note) == (
        Action.KEPT_DELETED,
        "you deleted it; the template changed it",
    )
    assert Provenance.read(old_project).template_version == NEW


def test_skipped_paths_are_never_touched(old_project: Path) -> None:
    pyproject = old_project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[tool.mlprod.update]\nskip = ["Dockerfile", "docs"]\n'
    )
    commit(old_project)
    dockerfile = (old_project / "Dockerfile").read_bytes()

    plan = update(old_project, NEW)

    assert (old_project / "Dockerfile").read_bytes() == dockerfile
    assert not (old_project / "docs").exists()
    skipped = {c.path: c.note for c in plan.changes if c.action is Action.SKIPPED}
    assert skipped == {
        "Dockerfile": 'matches skip pattern "Dockerfile"',
        "docs/runbook.md": 'matches skip pattern "docs"',
    }
    assert NEW_HARAKIRI in (old_project / "uwsgi.ini").read_text().splitlines()


def test_a_file_the_template_deleted_and_the_project_changed_is_kept_as_a_conflict(
    old_project: Path,
) -> None:
    tox = old_project / "tox.ini"
    tox.write_text(tox.read_text() + "# ours\n")
    commit(old_project)
    before = tox.read_text()

    plan = update(old_project, NEW)

    assert tox.read_text() == before
    (change,) = [change for change in plan.changes if change.path == "tox.ini"]
    assert (change.action, change.note) == (
        Action.CONFLICT,
        "the template deleted it; you changed it",
    )
    assert Provenance.read(old_project).template_version == OLD


def test_a_binary_file_the_project_changed_is_kept_as_a_conflict(old_project: Path) -> None:
    sample = old_project / "data" / "sample.bin"
    assert sample.read_bytes() == OLD_BYTES
    sample.write_bytes(b"\x00ours")
    commit(old_project)

    plan = update(old_project, NEW)

    assert sample.read_bytes() == b"\x00ours"
    assert plan.conflicts == ["data/sample.bin"]


def test_a_file_both_added_alike_is_left_alone(old_project: Path) -> None:
    runbook = old_project / "docs" / "runbook.md"
    runbook.parent.mkdir()
    runbook.write_text(RUNBOOK)
    commit(old_project)

    plan = update(old_project, NEW)

    assert "docs/runbook.md" not in actions(plan)
    assert runbook.read_text() == RUNBOOK


def test_a_file_both_added_differently_is_a_conflict(old_project: Path) -> None:
    runbook = old_project / "docs" / "runbook.md"
    runbook.parent.mkdir()
    runbook.write_text("# Our runbook\n")
    commit(old_project)

    plan = update(old_project, NEW)

    assert plan.conflicts == ["docs/runbook.md"]
    assert runbook.read_text() == (
        f"<<<<<<< yours\n# Our runbook\n=======\n{RUNBOOK}>>>>>>> template {NEW}\n"
    )


def test_a_folder_where_the_template_adds_a_file_is_left_as_a_conflict(
    old_project: Path,
) -> None:
    (old_project / "docs" / "runbook.md").mkdir(parents=True)
    (old_project / "docs" / "runbook.md" / "ours.md").write_text("ours\n")
    commit(old_project)

    plan = update(old_project, NEW)

    (change,) = [change for change in plan.changes if change.path == "docs/runbook.md"]
    assert (change.action, change.note) == (
        Action.CONFLICT,
        "not a file in the project; left as it is",
    )
    assert (old_project / "docs" / "runbook.md" / "ours.md").read_text() == "ours\n"


def test_when_one_file_cannot_be_written_nothing_is_changed(old_project: Path) -> None:
    (old_project / "docs").write_text("a file where the template wants a folder\n")
    commit(old_project)
    before = tree_bytes(old_project)

    with pytest.raises(UserError) as caught:
        update(old_project, NEW)

    assert str(caught.value) == (
        f"cannot write {old_project / 'docs' / 'runbook.md'}: File exists; nothing was changed"
    )
    assert tree_bytes(old_project) == before


def test_migrations_between_the_versions_run_in_version_order(old_project: Path) -> None:
    ran: list[str] = []

    def answers_step(name: str, **changes: Any) -> Migration:
        def step(answers: dict[str, Any]) -> dict[str, Any]:
            ran.append(name)
            return {**answers, **changes}

        version = name.split(":")[0]
        return Migration(version, name, answers=step)

    migrations = [
        answers_step("0.0.3:move"),
        answers_step("0.0.2:second", description="Scores iris flowers."),
        answers_step("0.0.1:before the project"),
        answers_step("0.0.4:after the target"),
    ]
    migrations.insert(1, answers_step("0.0.2:first"))

    plan = update(old_project, MOVED, migrations)

    assert ran == ["0.0.2:first", "0.0.2:second", "0.0.3:move"]
    assert [step.summary for step in plan.migrations] == ran
    assert Provenance.read(old_project).answers["description"] == "Scores iris flowers."
    assert "Scores iris flowers.\n" in (old_project / "README.md").read_text()


def _move_uwsgi_ini(tree: Path, answers: Mapping[str, Any]) -> None:
    old, new = tree / "uwsgi.ini", tree / "deploy" / "uwsgi.ini"
    if old.is_file():
        new.parent.mkdir(exist_ok=True)
        old.rename(new)


MOVE = Migration(MOVED, "uwsgi.ini moves to deploy/", files=_move_uwsgi_ini)


def test_a_migration_moves_a_file_with_the_projects_edits(old_project: Path) -> None:
    edit(old_project / "uwsgi.ini", "listen = 1024\n", "listen = 4096\n")
    commit(old_project)

    plan = update(old_project, MOVED, [MOVE])

    assert not (old_project / "uwsgi.ini").exists()
    moved = (old_project / "deploy" / "uwsgi.ini").read_text().splitlines()
    assert "listen = 4096" in moved
    assert NEW_HARAKIRI in moved
    assert actions(plan)["uwsgi.ini"] is Action.DELETED
    assert actions(plan)["deploy/uwsgi.ini"] is Action.ADDED
    assert plan.conflicts == []


def test_without_the_migration_the_moved_file_is_a_conflict(old_project: Path) -> None:
    edit(old_project / "uwsgi.ini", "listen = 1024\n", "listen = 4096\n")
    commit(old_project)

    plan = update(old_project, MOVED)

    assert plan.conflicts == ["uwsgi.ini"]
    assert "listen = 1024" in (old_project / "deploy" / "uwsgi.ini").read_text().splitlines()


def test_status_says_behind_for_an_old_template_and_current_for_this_one() -> None:
    old = Provenance(OLD, OLD, {})
    assert status(old).behind
    assert not status(Provenance(installed_version(), installed_version(), {})).behind
    pending = Provenance(OLD, OLD, {}, pending_update=PendingUpdate(NEW, {}, ["README.md"]))
    assert status(pending).pending == NEW


def test_status_refuses_a_project_newer_than_this_mlprod() -> None:
    with pytest.raises(UserError) as caught:
        status(Provenance("99.0.0", "99.0.0", {}))
    assert str(caught.value) == (
        f"the project's template (99.0.0) is newer than this mlprod's ({installed_version()}); "
        "upgrade mlprod: pip install -U mlprod"
    )


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ("99.0.0", "--to 99.0.0 is newer than this mlprod ({installed}); "
                   "install mlprod 99.0.0 to update to its template"),
        ("0.0.0", "--to 0.0.0 is older than the project's template (0.0.1); "
                  "mlprod update only moves forward"),
        ("latest", "--to 'latest' is not a version, e.g. 0.2.0"),
    ],
)  # fmt: skip
def test_target_version_refuses(requested: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        target_version(Provenance(OLD, OLD, {}), requested)
    assert str(caught.value) == message.format(installed=installed_version())


def test_target_version_defaults_to_this_mlprods() -> None:
    assert target_version(Provenance(OLD, OLD, {}), None) == installed_version()
    assert target_version(Provenance(OLD, OLD, {}), NEW) == NEW


def test_skip_patterns_come_from_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    head = "[project]\nname = 'x'\n[tool.mlprod]\nmodel_name = 'x'\nmodel_version = '0.1.0'\n"
    pyproject.write_text(head)
    assert load_project(tmp_path).update_skip == []
    pyproject.write_text(head + "[tool.mlprod.update]\nskip = ['Dockerfile', 'docs/*']\n")
    assert load_project(tmp_path).update_skip == ["Dockerfile", "docs/*"]
    pyproject.write_text(head + "[tool.mlprod.update]\nskip = 'Dockerfile'\n")
    with pytest.raises(UserError) as caught:
        load_project(tmp_path).update_skip  # noqa: B018 (the property checks the table)
    assert str(caught.value) == (
        f"{pyproject}: [tool.mlprod.update] skip must be a list of path patterns, "
        'e.g. skip = ["Dockerfile", "docs/*"]'
    )


@pytest.mark.parametrize(
    ("path", "patterns", "matched"),
    [
        ("Dockerfile", ["Dockerfile"], "Dockerfile"),
        ("Dockerfile.dev", ["Dockerfile"], None),
        ("docs/runbook.md", ["docs"], "docs"),
        ("docs/runbook.md", ["docs/"], "docs/"),
        ("docs/runbook.md", ["docs/*.md"], "docs/*.md"),
        ("src/pkg/api/app.py", ["src/*/api"], "src/*/api"),
        ("README.md", ["docs", "*.txt"], None),
    ],
)
def test_skipped_by_matches_a_path_or_one_of_its_folders(
    path: str, patterns: list[str], matched: str | None
) -> None:
    assert skipped_by(path, patterns) == matched
