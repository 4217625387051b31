"""The cookiecutter adapter: cookiecutter's public entry point, hooks called in-process.

The adapter renders with `accept_hooks=False` and calls the functions the hook scripts
call; these tests hold it to the same project cookiecutter makes when it runs the hook
scripts itself, and to changing nothing outside the folder it is given.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mlprod_cli.templating import cookiecutter_adapter
from mlprod_cli.templating.answers import InvalidAnswer
from mlprod_cli.templating.scaffold import gather_answers
from mlprod_cli.templating.source import TemplateSource, bundled_template, stage, verbatim_files

NAMES = ["zed", "credit-scorer", "fraud-detection-svc-eu1", "a" * 40]


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def answers_for(source: TemplateSource, name: str) -> dict[str, Any]:
    return gather_answers(source, {}, {"project_name": name}, no_input=True)


@pytest.mark.parametrize("name", NAMES)
def test_the_project_is_cookiecutters_own_with_its_hook_scripts_run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cookiecutter.main import cookiecutter

    source = bundled_template()
    answers = answers_for(source, name)
    mine = tmp_path / "mine"
    template = stage(source, mine / "stage")
    ours = cookiecutter_adapter.render(template, answers, mine, verbatim_files(template))

    # cookiecutter alone, running the hook scripts in their own processes; the rendered
    # scripts it leaves in the temp folder go to this test's folder.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"replay_dir": str(tmp_path / "replay")}))
    public = {key: value for key, value in answers.items() if not key.startswith("_")}
    theirs = cookiecutter(
        str(stage(source, tmp_path / "theirs-stage")),
        no_input=True,
        extra_context=public,
        output_dir=str(tmp_path / "theirs"),
        config_file=str(config),
        accept_hooks=True,
    )
    assert tree(ours) == tree(Path(theirs))


def test_rendering_changes_no_process_state_and_leaves_nothing_in_the_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watched = tmp_path / "temp"
    watched.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(watched))
    before = (tempfile.tempdir, os.getcwd(), list(sys.path))
    source = bundled_template()
    scratch = tmp_path / "scratch"
    template = stage(source, scratch / "stage")
    project = cookiecutter_adapter.render(template, answers_for(source, "churn"), scratch)
    assert (tempfile.tempdir, os.getcwd(), list(sys.path)) == before
    assert list(watched.iterdir()) == []
    assert project == scratch / "out" / "churn"
    assert sorted(path.name for path in scratch.iterdir()) == [
        "cookiecutter-config.json",
        "out",
        "replay",
        "stage",
    ]


def test_a_refused_answer_writes_no_project(tmp_path: Path) -> None:
    source = bundled_template()
    answers = {**answers_for(source, "churn"), "framework": "cobol"}
    template = stage(source, tmp_path / "stage")
    with pytest.raises(InvalidAnswer, match="framework 'cobol'"):
        cookiecutter_adapter.render(template, answers, tmp_path)
    assert not (tmp_path / "out").exists()


def test_the_users_cookiecutter_defaults_do_not_reach_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rc = tmp_path / "cookiecutterrc"
    rc.write_text("default_context:\n  description: from the user's ~/.cookiecutterrc\n")
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(rc))
    source = bundled_template()
    template = stage(source, tmp_path / "stage")
    project = cookiecutter_adapter.render(template, answers_for(source, "churn"), tmp_path)
    assert "from the user's" not in (project / "pyproject.toml").read_text()
