"""The cookiecutter adapter: cookiecutter's public entry point, hooks called in-process.

The adapter renders with `accept_hooks=False` and calls the functions the hook scripts
call; these tests hold it to the same project cookiecutter makes when it runs the hook
scripts itself, and to changing nothing outside the folder it is given.
"""

from __future__ import annotations

import json
import os
import shutil
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
    mine.mkdir()
    ours = cookiecutter_adapter.render(source, answers, mine)

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
    scratch.mkdir()
    project = cookiecutter_adapter.render(source, answers_for(source, "churn"), scratch)
    assert (tempfile.tempdir, os.getcwd(), list(sys.path)) == before
    assert list(watched.iterdir()) == []
    assert project == scratch / "out" / "churn"
    assert sorted(path.name for path in scratch.iterdir()) == [
        "cookiecutter-config.json",
        "out",
        "replay",
        "template",
    ]


def test_the_template_is_linked_not_copied_and_survives_the_scratch_folder(
    tmp_path: Path,
) -> None:
    source = bundled_template()
    before = tree(source.root)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    cookiecutter_adapter.render(source, answers_for(source, "churn"), scratch)
    (linked,) = (scratch / "template").glob("{{*")
    assert linked.is_symlink()
    assert json.loads((scratch / "template" / "cookiecutter.json").read_text())[
        "_copy_without_render"
    ] == verbatim_files(scratch / "template")
    shutil.rmtree(scratch)
    assert tree(source.root) == before


def test_caches_in_the_template_stay_out_of_the_project(tmp_path: Path) -> None:
    copy = tmp_path / "template"
    shutil.copytree(bundled_template().root, copy)
    project_folder = next(copy.glob("{{*"))
    caches = ("__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache")
    for cache in caches:
        (project_folder / "src" / cache).mkdir(parents=True)
        (project_folder / "src" / cache / "x.pyc").write_bytes(b"\x00")
    (project_folder / "stray.pyc").write_bytes(b"\x00")
    source = TemplateSource(root=copy, hooks=bundled_template().hooks)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    project = cookiecutter_adapter.render(source, answers_for(source, "churn"), scratch)
    # the project's own modules may say "cache" (api/cache.py): the tools' folders may not
    left = [p.name for p in project.rglob("*") if p.name.endswith(".pyc") or p.name in caches]
    assert left == []


def test_a_refused_answer_writes_no_project(tmp_path: Path) -> None:
    source = bundled_template()
    answers = {**answers_for(source, "churn"), "framework": "cobol"}
    with pytest.raises(InvalidAnswer, match="framework 'cobol'"):
        cookiecutter_adapter.render(source, answers, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_users_cookiecutter_defaults_do_not_reach_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rc = tmp_path / "cookiecutterrc"
    rc.write_text("default_context:\n  description: from the user's ~/.cookiecutterrc\n")
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(rc))
    source = bundled_template()
    project = cookiecutter_adapter.render(source, answers_for(source, "churn"), tmp_path)
    assert "from the user's" not in (project / "pyproject.toml").read_text()
