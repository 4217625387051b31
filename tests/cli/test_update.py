"""`mlprod update`: every path a user can take, with the exact output and exit code.

Projects come from the `template_versions` fixtures: made from template 0.0.1 and
committed, with `MLPROD_CACHE_DIR` pointing at the cache holding 0.0.1 to 0.0.3.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from gitrepos import git, tree_bytes
from template_versions import (
    BEFORE_SPLIT,
    NEW,
    NEW_HARAKIRI,
    NEW_TITLE,
    OLD,
    add_version_from_git,
    commit,
    make_old_project,
    make_template_cache,
)
from typer.testing import CliRunner, Result

from mlprod_cli import __version__
from mlprod_cli.main import app

UPDATED = (
    f"Updated iris-classifier from template {OLD} to {NEW}\n"
    "  updated      Dockerfile\n"
    "  merged       README.md\n"
    "  updated      data/sample.bin\n"
    "  added        docs/runbook.md\n"
    "  deleted      tox.ini\n"
    "  updated      uwsgi.ini\n"
)


def update(runner: CliRunner, project: Path, *args: str) -> Result:
    return runner.invoke(app, ["update", "--project", str(project), *args])


def recorded(project: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((project / ".mlprod.json").read_text())
    return data


def own_title(project: Path) -> list[str]:
    """Give README.md the project's own first line; return the lines after it."""
    readme = project / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    readme.write_text("".join(["# Our own title\n", *lines[1:]]))
    commit(project)
    return lines[1:]


def test_update_merges_the_template_changes_and_records_the_version(
    runner: CliRunner, old_project: Path
) -> None:
    readme = old_project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n")
    commit(old_project)

    result = update(runner, old_project, "--to", NEW)

    assert result.exit_code == 0, result.output
    assert result.stdout == UPDATED + f"Recorded template {NEW} in .mlprod.json\n"
    assert result.stderr == ""
    assert readme.read_text().startswith(f"{NEW_TITLE}\n")
    assert readme.read_text().endswith("\n## Our notes\n")
    assert recorded(old_project)["template_version"] == NEW
    assert recorded(old_project)["mlprod_version"] == __version__


def test_conflicts_are_listed_marked_and_exit_4_without_recording_the_version(
    runner: CliRunner, old_project: Path
) -> None:
    rest = own_title(old_project)

    result = update(runner, old_project, "--to", NEW)

    assert result.exit_code == 4
    assert result.stdout == (
        UPDATED.replace(
            "  merged       README.md\n",
            "  conflict     README.md (both changed the same lines)\n",
        )
        + f"Left template {OLD} in .mlprod.json until the conflicts are resolved\n"
    )
    assert result.stderr == (
        "mlprod: 1 file left with conflicts (README.md); resolve them, "
        f"then run `mlprod update` again to record template {NEW}\n"
    )
    assert (old_project / "README.md").read_text() == "".join(
        ["<<<<<<< yours\n", "# Our own title\n", "=======\n", f"{NEW_TITLE}\n",
         f">>>>>>> template {NEW}\n", *rest]
    )  # fmt: skip
    assert recorded(old_project)["template_version"] == OLD


def test_running_again_with_markers_left_says_where(runner: CliRunner, old_project: Path) -> None:
    own_title(old_project)
    update(runner, old_project, "--to", NEW)

    result = update(runner, old_project)

    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == (
        f"mlprod: the update to template {NEW} still has conflict markers in README.md; "
        "resolve them, then run `mlprod update` again\n"
    )
    assert recorded(old_project)["template_version"] == OLD


def test_running_again_once_resolved_records_the_version(
    runner: CliRunner, old_project: Path
) -> None:
    rest = own_title(old_project)
    update(runner, old_project, "--to", NEW)
    (old_project / "README.md").write_text("".join(["# Our own title\n", *rest]))

    result = update(runner, old_project)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Recorded template {NEW} in .mlprod.json: "
        f"the update of iris-classifier from template {OLD} is complete\n"
    )
    assert recorded(old_project)["template_version"] == NEW
    assert "pending_update" not in recorded(old_project)


def test_another_version_waits_for_the_pending_update(runner: CliRunner, old_project: Path) -> None:
    own_title(old_project)
    update(runner, old_project, "--to", NEW)

    result = update(runner, old_project, "--to", "0.0.3")

    assert result.exit_code == 4
    assert result.stderr == (
        f"mlprod: the update to template {NEW} is not finished; resolve its conflicts and run "
        "`mlprod update`, or undo it with git, before updating to 0.0.3\n"
    )


def test_a_dirty_git_tree_is_refused_with_one_line(runner: CliRunner, old_project: Path) -> None:
    (old_project / "README.md").write_text("work in progress\n")
    (old_project / "notes.txt").write_text("untracked\n")
    before = tree_bytes(old_project)

    result = update(runner, old_project, "--to", NEW)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"mlprod: the git repository {old_project} has uncommitted changes "
        "(README.md, notes.txt); commit or stash them first, or pass --allow-dirty\n"
    )
    assert tree_bytes(old_project) == before


def test_allow_dirty_updates_a_dirty_tree(runner: CliRunner, old_project: Path) -> None:
    (old_project / "notes.txt").write_text("untracked\n")

    result = update(runner, old_project, "--to", NEW, "--allow-dirty")

    assert result.exit_code == 0, result.output
    assert recorded(old_project)["template_version"] == NEW
    assert (old_project / "notes.txt").read_text() == "untracked\n"


def test_dry_run_says_what_would_change_and_changes_nothing(
    runner: CliRunner, old_project: Path
) -> None:
    readme = old_project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n")
    commit(old_project)
    (old_project / "notes.txt").write_text("a dirty tree is fine for a dry run\n")
    before = tree_bytes(old_project)

    result = update(runner, old_project, "--to", NEW, "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Would update iris-classifier from template {OLD} to {NEW} (dry run: nothing changed)\n"
        + UPDATED.split("\n", 1)[1]
        + f"Would record template {NEW} in .mlprod.json\n"
    )
    assert tree_bytes(old_project) == before


def test_dry_run_with_conflicts_exits_4_and_changes_nothing(
    runner: CliRunner, old_project: Path
) -> None:
    own_title(old_project)
    before = tree_bytes(old_project)

    result = update(runner, old_project, "--to", NEW, "--dry-run")

    assert result.exit_code == 4
    assert result.stdout.endswith(
        f"Would leave template {OLD} in .mlprod.json until the conflicts are resolved\n"
    )
    assert result.stderr == (
        "mlprod: 1 file would be left with conflicts (README.md); nothing was changed (dry run)\n"
    )
    assert tree_bytes(old_project) == before


def test_without_to_the_project_gets_this_mlprods_template(
    runner: CliRunner, tmp_path: Path, isolated_git: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Versions of its own, taken from the bundled template just now: this test compares
    # 0.0.1 with the bundled template as it is when the update runs.
    cache = make_template_cache(tmp_path / "cache")
    monkeypatch.setenv("MLPROD_CACHE_DIR", str(cache))
    old_project = make_old_project(cache, tmp_path / "out")
    assert update(runner, old_project, "--to", NEW).exit_code == 0
    commit(old_project, "Template 0.0.2")

    result = update(runner, old_project)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Updated iris-classifier from template {NEW} to {__version__}\n"
        "  updated      Dockerfile\n"
        "  updated      README.md\n"
        "  deleted      data/sample.bin\n"
        "  deleted      docs/runbook.md\n"
        "  added        tox.ini\n"
        "  updated      uwsgi.ini\n"
        f"Recorded template {__version__} in .mlprod.json\n"
    )
    assert NEW_HARAKIRI not in (old_project / "uwsgi.ini").read_text().splitlines()
    assert not (old_project / "docs").exists()


def test_a_current_project_has_nothing_to_update(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["new", "--no-input", "--no-git", "-o", str(tmp_path)]).exit_code == 0

    result = update(runner, tmp_path / "iris-classifier")

    assert result.exit_code == 0, result.output
    assert (
        result.stdout
        == f"iris-classifier is already at template {__version__}; nothing to update\n"
    )


def test_a_template_that_cannot_be_had_is_one_line(
    runner: CliRunner, old_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provenance = recorded(old_project)
    (old_project / ".mlprod.json").write_text(
        json.dumps({**provenance, "template_version": "0.0.9"})
    )
    commit(old_project)
    links = tmp_path / "no-wheels"
    links.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("MLPROD_CACHE_DIR", str(tmp_path / "empty-cache"))

    result = update(runner, old_project)

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "mlprod: cannot get the template of mlprod 0.0.9: `pip download mlprod==0.0.9` failed ("
    )
    assert result.stderr.endswith(
        "); put that release's template (its wheel's mlprod_cli/_template folder) in "
        f"{tmp_path / 'empty-cache' / 'templates' / '0.0.9'}\n"
    )
    assert result.stderr.count("\n") == 1


def test_a_project_without_provenance_is_refused(runner: CliRunner, old_project: Path) -> None:
    (old_project / ".mlprod.json").unlink()

    result = update(runner, old_project)

    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: {old_project} has no .mlprod.json, the record of the template and answers "
        "that made it; see `mlprod update`'s documentation to write one\n"
    )


def test_to_a_version_newer_than_this_mlprod_is_refused(
    runner: CliRunner, old_project: Path
) -> None:
    result = update(runner, old_project, "--to", "99.0")

    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: --to 99.0 is newer than this mlprod ({__version__}); "
        "install mlprod 99.0 to update to its template\n"
    )


def test_update_needs_git(
    runner: CliRunner, old_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-bin"))

    result = update(runner, old_project, "--to", NEW)

    assert result.exit_code == 1
    assert result.stderr == (
        "mlprod: mlprod update needs git (it merges with `git merge-file`), "
        "and there is no git command on PATH\n"
    )


def test_update_finds_the_project_from_a_subfolder(
    runner: CliRunner, old_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(old_project / "src")

    result = runner.invoke(app, ["update", "--to", NEW])

    assert result.exit_code == 0, result.output
    assert git(old_project, "status", "--porcelain").splitlines() == [
        " M .mlprod.json", " M Dockerfile", " M README.md", " M data/sample.bin",
        " D tox.ini", " M uwsgi.ini", "?? docs/",
    ]  # fmt: skip


OWN_EDITS = {
    # in files the template changed elsewhere (pyproject: dependencies, [tool.mypy]; the
    # README: the layout, set-up and test sections), and in one it did not change
    "pyproject.toml": ("min_accuracy = 0.9\n", "min_accuracy = 0.95\n"),
    "README.md": ("## Train\n", "## Train\n\nOur data comes from the warehouse.\n"),
    "uwsgi.ini": ("harakiri = 30\n", "harakiri = 45\n"),
}
OWN_MODULE = "src/iris_classifier/model/features.py"


def test_a_project_made_before_the_registry_split_gets_the_new_layout_and_keeps_its_edits(
    runner: CliRunner, tmp_path: Path, isolated_git: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project of mlprod's template as it was before the registry split and pydantic-settings
    (commit BEFORE_SPLIT), edited and committed, updated to this mlprod's template: no conflict;
    every file the user did not touch is what `mlprod new` makes today, and the edits stay."""
    cache = tmp_path / "cache"
    if not add_version_from_git(cache, OLD, BEFORE_SPLIT):
        if os.environ.get("CI") == "true":
            pytest.fail(f"this clone lacks mlprod's commit {BEFORE_SPLIT[:7]}: clone its history")
        pytest.skip(f"this clone lacks mlprod's commit {BEFORE_SPLIT[:7]} (a shallow clone)")
    monkeypatch.setenv("MLPROD_CACHE_DIR", str(cache))
    project = make_old_project(cache, tmp_path / "old", OLD)
    assert not (project / "src/iris_classifier/model/manifest.py").exists()
    for name, (before, after) in OWN_EDITS.items():
        text = (project / name).read_text()
        assert text.count(before) == 1, name
        (project / name).write_text(text.replace(before, after))
    (project / OWN_MODULE).write_text('"""Our own features."""\n')
    commit(project)

    result = update(runner, project)

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "conflict" not in result.stdout
    for name in OWN_EDITS.keys() - {"uwsgi.ini"}:
        assert f"  merged       {name}\n" in result.stdout
    for module in ("errors", "integrity", "manifest", "selection"):
        assert f"  added        src/iris_classifier/model/{module}.py\n" in result.stdout
    assert result.stdout.endswith(f"Recorded template {__version__} in .mlprod.json\n")
    made = runner.invoke(app, ["new", "--no-input", "--no-git", "-o", str(tmp_path / "new")])
    assert made.exit_code == 0, made.output
    expected = tree_bytes(tmp_path / "new" / "iris-classifier")
    for name, (before, after) in OWN_EDITS.items():
        expected[name] = expected[name].replace(before.encode(), after.encode())
    expected[OWN_MODULE] = b'"""Our own features."""\n'
    updated = tree_bytes(project)
    assert json.loads(updated.pop(".mlprod.json"))["template_version"] == __version__
    expected.pop(".mlprod.json")
    assert sorted(updated) == sorted(expected)
    assert [name for name in sorted(expected) if updated[name] != expected[name]] == []
