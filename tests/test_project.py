"""Finding a project made by `mlprod new`, and what `[tool.mlprod]` says about it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlprod_cli.errors import UserError
from mlprod_cli.project import NotAProject, Project, find_project, load_project, package_name

PYPROJECT = """\
[project]
name = "credit-risk-scorer"
version = "0.1.0"

# The model.
[tool.mlprod]
model_name = "credit-risk"
model_version = "0.3.0-rc.1"
"""


def make_project(folder: Path, text: str = PYPROJECT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(text)
    return folder


def test_find_project_reads_names_and_model_version(tmp_path: Path) -> None:
    root = make_project(tmp_path / "credit-risk-scorer")
    assert find_project(root) == Project(
        root=root,
        slug="credit-risk-scorer",
        package="credit_risk_scorer",
        model_name="credit-risk",
        model_version="0.3.0-rc.1",
    )


def test_project_knows_its_files(tmp_path: Path) -> None:
    project = find_project(make_project(tmp_path))
    assert project.pyproject == tmp_path / "pyproject.toml"
    assert project.changelog == tmp_path / "CHANGELOG.md"


def test_find_project_looks_upwards_from_a_subfolder(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    inner = root / "src" / "credit_risk_scorer" / "model"
    inner.mkdir(parents=True)
    assert find_project(inner).root == root


def test_find_project_skips_pyprojects_without_an_mlprod_table(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    nested = make_project(root / "vendor" / "other", '[project]\nname = "other"\n')
    assert find_project(nested).root == root


def test_find_project_takes_the_nearest_project(tmp_path: Path) -> None:
    make_project(tmp_path)
    inner = make_project(tmp_path / "inner")
    assert find_project(inner / ".").root == inner


def test_find_project_refuses_where_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(NotAProject) as caught:
        find_project(tmp_path)
    assert str(caught.value) == (
        f"no mlprod project here or above {tmp_path}; "
        "run inside a project made by `mlprod new` or pass --project"
    )


def test_load_project_takes_the_folder_as_the_root(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project")
    assert load_project(root).root == root


def test_load_project_does_not_look_upwards(tmp_path: Path) -> None:
    make_project(tmp_path)
    (tmp_path / "src").mkdir()
    with pytest.raises(NotAProject) as caught:
        load_project(tmp_path / "src")
    assert str(caught.value) == (
        f"{tmp_path / 'src'} is not an mlprod project: {tmp_path / 'src' / 'pyproject.toml'} "
        "has no [tool.mlprod] table; pass the folder of a project made by `mlprod new`"
    )


def test_load_project_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NotAProject, match=r"^--project .*/absent does not exist$"):
        load_project(tmp_path / "absent")


def test_load_project_refuses_a_file(tmp_path: Path) -> None:
    make_project(tmp_path)
    with pytest.raises(NotAProject, match=r"^--project .*/pyproject.toml is not a folder$"):
        load_project(tmp_path / "pyproject.toml")


def test_invalid_toml_is_named(tmp_path: Path) -> None:
    make_project(tmp_path, "[tool.mlprod\n")
    with pytest.raises(UserError) as caught:
        find_project(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'pyproject.toml'} is not valid TOML: ")


def test_a_pyproject_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b"name = '\xff'\n")
    with pytest.raises(UserError) as caught:
        find_project(tmp_path)
    assert str(caught.value) == f"cannot read {tmp_path / 'pyproject.toml'}: it is not UTF-8 text"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[project]\nname = "x"\n[tool.mlprod]\nmodel_name = "x"\n',
            "{pyproject} has no model_version in [tool.mlprod]",
        ),
        (
            '[tool.mlprod]\nmodel_name = "x"\nmodel_version = "0.1.0"\n',
            "{pyproject} has no name in [project]",
        ),
        (
            '[project]\nname = "x"\n[tool.mlprod]\nmodel_name = "x"\nmodel_version = 1.2\n',
            "{pyproject}: [tool.mlprod] model_version must be a string, got 1.2",
        ),
    ],
    ids=["no-model-version", "no-project-name", "version-not-a-string"],
)
def test_incomplete_tables_are_named(tmp_path: Path, text: str, message: str) -> None:
    make_project(tmp_path, text)
    with pytest.raises(UserError) as caught:
        find_project(tmp_path)
    assert str(caught.value) == message.format(pyproject=tmp_path / "pyproject.toml")


@pytest.mark.parametrize(
    ("distribution", "package"),
    [
        ("iris-classifier", "iris_classifier"),
        ("Iris.Classifier", "iris_classifier"),
        ("a--b", "a_b"),
    ],
)
def test_package_name_follows_the_distribution_name(distribution: str, package: str) -> None:
    assert package_name(distribution) == package
