"""Two (and three) versions of the template, and projects made from the oldest, for update tests.

A pytest plugin (registered in conftest.py) so that tests/ and tests/cli/ share it.
The versions live in a template cache laid out as mlprod keeps it
(`<cache>/templates/<version>/`), so `MLPROD_CACHE_DIR=<cache>` makes the real
`mlprod update` find them without a network:

- 0.0.1: the bundled template as it is, plus a small binary file `data/sample.bin`;
- 0.0.2: 0.0.1 changed in known ways: the uwsgi.ini `harakiri` setting, the README's
  first line, a line added to the Dockerfile, a new file `docs/runbook.md`, `tox.ini`
  removed, and new bytes in `data/sample.bin`;
- 0.0.3: 0.0.2 with `uwsgi.ini` moved to `deploy/uwsgi.ini` (for the migration tests).

The versions are below the installed mlprod's, as released templates would be.
`add_version_from_git` makes a version of the template as it was at one of mlprod's
commits instead (from this checkout's history), to update a project made then.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from gitrepos import git, isolate_git

from mlprod_cli.templating.provenance import Provenance
from mlprod_cli.templating.scaffold import gather_answers, render
from mlprod_cli.templating.source import TemplateSource, bundled_template, stage
from mlprod_cli.templating.store import TemplateStore
from mlprod_cli.vcs import Outcome, initialise

OLD, NEW, MOVED = "0.0.1", "0.0.2", "0.0.3"
SLUG = "iris-classifier"
PACKAGE = "iris_classifier"
NEW_HARAKIRI = "harakiri = 17"
NEW_TITLE = "# Iris Classifier: the service"
DOCKERFILE_LINE = "# hardened in template 0.0.2"
RUNBOOK = "# Iris Classifier runbook\n"
OLD_BYTES = b"\x00\x01old"
NEW_BYTES = b"\x00\x02new"
PROJECT_DIR = "{{cookiecutter.__project_slug}}"
BEFORE_SPLIT = "3a02e68598094a44568c3dc9f681a585b6f55647"
"""mlprod's commit before the generated registry's split into errors, manifest, integrity,
registry and selection, `model/config.py` and settings on pydantic-settings."""
CHECKOUT = Path(__file__).resolve().parents[1]


def _replace_once(path: Path, pattern: str, replacement: str) -> None:
    text, count = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.M)
    assert count == 1, f"fixture anchor {pattern!r} is missing from {path}"
    path.write_text(text)


def _make_versions(templates: Path) -> None:
    staging = templates / "staging"
    old = stage(bundled_template(), staging).rename(templates / OLD)
    staging.rmdir()
    (old / PROJECT_DIR / "data").mkdir(exist_ok=True)  # the example data sets are variants
    (old / PROJECT_DIR / "data" / "sample.bin").write_bytes(OLD_BYTES)

    new = templates / NEW
    shutil.copytree(old, new)
    project = new / PROJECT_DIR
    _replace_once(project / "uwsgi.ini", r"^harakiri = \d+$", NEW_HARAKIRI)
    _replace_once(project / "README.md", r"\A.*$", "# {{ cookiecutter.project_name }}: the service")
    with (project / "Dockerfile").open("a") as dockerfile:
        dockerfile.write(f"{DOCKERFILE_LINE}\n")
    (project / "docs").mkdir()
    (project / "docs" / "runbook.md").write_text("# {{ cookiecutter.project_name }} runbook\n")
    (project / "tox.ini").unlink()
    (project / "data" / "sample.bin").write_bytes(NEW_BYTES)

    moved = templates / MOVED
    shutil.copytree(new, moved)
    (moved / PROJECT_DIR / "deploy").mkdir(exist_ok=True)
    (moved / PROJECT_DIR / "uwsgi.ini").rename(moved / PROJECT_DIR / "deploy" / "uwsgi.ini")


def make_template_cache(cache: Path) -> Path:
    """Fill `cache` with versions 0.0.1, 0.0.2 and 0.0.3, from the bundled template as it is now."""
    (cache / "templates").mkdir(parents=True)
    _make_versions(cache / "templates")
    return cache


def add_version_from_git(cache: Path, version: str, commit: str) -> bool:
    """Put the template (and hooks) of mlprod's `commit` in `cache` as template `version`.

    False when this checkout's history lacks the commit (a shallow clone): nothing is made.
    """
    git = ["git", "-C", str(CHECKOUT)]
    known = subprocess.run([*git, "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    if known.returncode != 0:
        return False
    archive = subprocess.run(
        [*git, "archive", "--format=tar", commit, "template", "hooks"],
        capture_output=True,
        check=True,
    ).stdout
    checkout = cache / "checkouts" / version
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(checkout, filter="data")
    source = TemplateSource(root=checkout / "template", hooks=checkout / "hooks")
    (cache / "templates").mkdir(parents=True, exist_ok=True)
    stage(source, cache / "staging" / version).rename(cache / "templates" / version)
    shutil.rmtree(cache / "checkouts")
    shutil.rmtree(cache / "staging")
    return True


def make_old_project(cache: Path, output: Path, version: str = OLD) -> Path:
    """A project made from template `version` (0.0.1) of `cache` in `output`, committed to git."""
    source = TemplateStore(cache).get(version)
    answers = gather_answers(source, {}, {}, no_input=True)
    project = render(source, answers, output).path
    Provenance(version, version, Provenance.read(project).answers).write(project)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        patch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
        done = initialise(project, f"Made from template {version}", "Test", "test@example.com")
    assert done.outcome is Outcome.COMMITTED, done.detail
    return project


@pytest.fixture(scope="session")
def template_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template cache holding versions 0.0.1, 0.0.2 and 0.0.3."""
    return make_template_cache(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """An identity, and no user or system configuration (signing, hooks) in the way."""
    isolate_git(monkeypatch, tmp_path_factory.mktemp("gitconfig"))


@pytest.fixture(scope="session")
def pristine_project(template_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made from template 0.0.1 and committed; copy it, never change it."""
    return make_old_project(template_cache, tmp_path_factory.mktemp("pristine"))


@pytest.fixture
def old_project(
    pristine_project: Path,
    tmp_path: Path,
    isolated_git: None,
    monkeypatch: pytest.MonkeyPatch,
    template_cache: Path,
) -> Path:
    """A fresh copy of the 0.0.1 project, in a clean git repository, with the cache in use."""
    project = tmp_path / SLUG
    shutil.copytree(pristine_project, project, symlinks=True)
    monkeypatch.setenv("MLPROD_CACHE_DIR", str(template_cache))
    return project


def commit(project: Path, message: str = "Our own edits") -> None:
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", message)
