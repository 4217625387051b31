"""`mlprod check`: current (0), behind (3), errors (1), as a sentence or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from template_versions import NEW, OLD
from typer.testing import CliRunner, Result

from mlprod_cli import __version__
from mlprod_cli.main import app
from mlprod_cli.templating.provenance import PendingUpdate, Provenance


def check(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, ["check", *args])


@pytest.fixture
def current_project(runner: CliRunner, tmp_path: Path) -> Path:
    output = tmp_path / "current"
    result = runner.invoke(app, ["new", "--no-input", "--no-git", "-o", str(output)])
    assert result.exit_code == 0, result.output
    return output / "iris-classifier"


def test_a_project_made_by_this_mlprod_is_current(runner: CliRunner, current_project: Path) -> None:
    result = check(runner, "--project", str(current_project))
    assert result.exit_code == 0
    assert result.stdout == f"iris-classifier is current: template {__version__}\n"


def test_a_project_from_an_older_template_is_behind_with_exit_code_3(
    runner: CliRunner, old_project: Path
) -> None:
    result = check(runner, "--project", str(old_project))
    assert result.exit_code == 3
    assert result.stdout == (
        f"iris-classifier is behind: made from template {OLD}, and mlprod {__version__} has "
        f"template {__version__}; run `mlprod update` to bring its changes in\n"
    )
    assert result.stderr == ""


def test_json_for_machines(runner: CliRunner, old_project: Path, current_project: Path) -> None:
    behind = check(runner, "--project", str(old_project), "--json")
    assert behind.exit_code == 3
    assert json.loads(behind.stdout) == {
        "project": str(old_project),
        "status": "behind",
        "template_version": OLD,
        "installed_version": __version__,
        "pending_update": None,
    }
    current = check(runner, "--project", str(current_project), "--json")
    assert current.exit_code == 0
    assert json.loads(current.stdout)["status"] == "current"


def test_a_pending_update_is_mentioned(runner: CliRunner, old_project: Path) -> None:
    recorded = Provenance.read(old_project)
    pending = PendingUpdate(NEW, recorded.answers, ["README.md"])
    Provenance(OLD, OLD, recorded.answers, pending_update=pending).write(old_project)

    result = check(runner, "--project", str(old_project))

    assert result.exit_code == 3
    assert result.stdout.splitlines()[1] == (
        f"An update to template {NEW} is waiting on its conflicts: resolve them, "
        "then run `mlprod update` again"
    )
    as_json = check(runner, "--project", str(old_project), "--json")
    assert json.loads(as_json.stdout)["pending_update"] == NEW


def test_check_finds_the_project_from_inside_it(
    runner: CliRunner, current_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(current_project / "src")
    assert check(runner).exit_code == 0


def test_a_project_newer_than_this_mlprod_is_an_error(
    runner: CliRunner, current_project: Path
) -> None:
    recorded = Provenance.read(current_project)
    Provenance("99.0.0", "99.0.0", recorded.answers).write(current_project)

    result = check(runner, "--project", str(current_project))

    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: the project's template (99.0.0) is newer than this mlprod's ({__version__}); "
        "upgrade mlprod: pip install -U mlprod\n"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{project} has no .mlprod.json, the record of the template and answers that made "
               "it; see `mlprod update`'s documentation to write one"),
        ("{", "{path} is not valid JSON: Expecting property name enclosed in double quotes: "
              "line 1 column 2 (char 1)"),
        ("[]", "{path} must hold a JSON object"),
        ('{"answers": {}}', "{path} has no mlprod_version (a version string)"),
        ('{"mlprod_version": "0.1.0", "template_version": "0.1.0"}',
         "{path} has no answers (a JSON object of answers)"),
        ('{"mlprod_version": "0.1.0", "template_version": "one", "answers": {}}',
         ".mlprod.json template_version 'one' is not a version, e.g. 0.2.0"),
    ],
    ids=["missing", "not-json", "not-an-object", "no-version", "no-answers", "bad-version"],
)  # fmt: skip
def test_a_missing_or_broken_record_is_one_line(
    runner: CliRunner, current_project: Path, content: str | None, message: str
) -> None:
    path = current_project / ".mlprod.json"
    if content is None:
        path.unlink()
    else:
        path.write_text(content)

    result = check(runner, "--project", str(current_project))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"mlprod: {message.format(project=current_project, path=path)}\n"


def test_outside_a_project_is_one_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = check(runner)
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: no mlprod project here or above {tmp_path}; "
        "run inside a project made by `mlprod new` or pass --project\n"
    )
