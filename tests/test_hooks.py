"""The hooks' logic, unit-tested, and the hook scripts run by cookiecutter for real."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlprod_cli.hooks import apply_variants, post_generate, pre_generate


def context(**changes: str) -> dict[str, str]:
    base = {
        "project_name": "Iris Classifier",
        "description": "d",
        "author_name": "a",
        "author_email": "a@example.com",
        "task": "classification",
        "framework": "sklearn",
        "__project_slug": "iris-classifier",
        "__package_name": "iris_classifier",
        "__model_name": "iris-classifier",
    }
    return {**base, **changes}


def test_pre_generate_accepts_good_answers() -> None:
    stderr = io.StringIO()
    assert pre_generate(context(), stderr=stderr) == 0
    assert stderr.getvalue() == ""


def test_pre_generate_prints_one_line_and_fails_on_a_bad_answer() -> None:
    stderr = io.StringIO()
    assert pre_generate(context(author_email="nope"), stderr=stderr) == 1
    assert stderr.getvalue() == (
        "mlprod: author_email 'nope' is not an e-mail address; give one like name@example.com\n"
    )


def test_post_generate_prunes_byte_code_and_keeps_the_rest(tmp_path: Path) -> None:
    package = tmp_path / "src" / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (package / "stray.pyc").write_bytes(b"\0")
    (package / "mod.py").write_text("x = 1\n")
    assert post_generate(tmp_path) == 0
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "src", "src/pkg", "src/pkg/mod.py",
    ]  # fmt: skip


def test_post_generate_moves_the_chosen_variants_into_place(tmp_path: Path) -> None:
    variants = tmp_path / "_variants"
    for name, text in (("task-regression", "regress"), ("task-classification", "classify")):
        (variants / name / "src").mkdir(parents=True)
        (variants / name / "src" / "estimator.py").write_text(text)
    (variants / "framework-sklearn" / "data").mkdir(parents=True)
    (variants / "framework-sklearn" / "data" / "x.csv").write_text("a,b\n")
    assert post_generate(tmp_path, context(task="regression")) == 0
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "data", "data/x.csv", "src", "src/estimator.py",
    ]  # fmt: skip
    assert (tmp_path / "src" / "estimator.py").read_text() == "regress"


def test_pre_generation_hook_stops_cookiecutter_on_a_bad_answer(
    bake: Callable[..., Any], capfd: pytest.CaptureFixture[str]
) -> None:
    result = bake(project_name="3D Model")
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "FailedHookException"
    assert capfd.readouterr().err.startswith(
        "mlprod: project_name '3D Model' gives no valid package name ('3d_model');"
    )
    assert result.project_path is None


def test_post_generation_hook_runs(bake: Callable[..., Any], staged_template: Path) -> None:
    package = staged_template / "{{cookiecutter.__project_slug}}" / "__pycache__"
    package.mkdir()
    (package / "x.cpython-311.pyc").write_bytes(b"\0")
    try:
        result = bake()
    finally:
        (package / "x.cpython-311.pyc").unlink()
        package.rmdir()
    assert result.exit_code == 0, result.exception
    assert not (result.project_path / "__pycache__").exists()


def test_a_variant_of_two_answers_overrides_each_answer_alone(tmp_path: Path) -> None:
    variants = tmp_path / "_variants"
    for name, text in (
        ("task-regression", "ridge"),
        ("task-regression+framework-xgboost", "xgb regressor"),
        ("task-classification+framework-xgboost", "xgb classifier"),
        ("framework-xgboost", "framework alone"),
    ):
        (variants / name).mkdir(parents=True)
        (variants / name / "estimator.py").write_text(text)
    applied = apply_variants(tmp_path, context(task="regression", framework="xgboost"))
    assert applied == [
        "task-regression", "framework-xgboost", "task-regression+framework-xgboost",
    ]  # fmt: skip
    assert (tmp_path / "estimator.py").read_text() == "xgb regressor"
    assert not variants.exists()


def test_a_variant_folder_naming_no_known_answer_is_refused(tmp_path: Path) -> None:
    (tmp_path / "_variants" / "tsak-regression").mkdir(parents=True)
    with pytest.raises(ValueError, match="'tsak-regression' is not <answer>-<value>"):
        apply_variants(tmp_path, context())
