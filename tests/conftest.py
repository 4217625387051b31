"""Shared fixtures: the staged template, a CLI runner, and a project made by `mlprod new`."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlprod_cli.templating.source import TemplateSource, bundled_template, stage

DEFAULT_SLUG = "iris-classifier"

# Template versions and projects made from an old one, shared by the update tests here and in cli/.
pytest_plugins = ["template_versions"]


@pytest.fixture(scope="session")
def template_source() -> TemplateSource:
    return bundled_template()


@pytest.fixture(scope="session")
def staged_template(
    template_source: TemplateSource, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The template with its hooks beside it, as `mlprod new` renders it."""
    return stage(template_source, tmp_path_factory.mktemp("staged"))


@pytest.fixture
def bake(
    cookies: Any, staged_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """Bake the staged template with pytest-cookies (hooks included)."""
    # cookiecutter leaves each rendered hook script behind as a temporary file: keep them here.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def _bake(**answers: Any) -> Any:
        return cookies.bake(extra_context=answers, template=str(staged_template))

    return _bake


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
