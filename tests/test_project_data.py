"""The one reader of a project's data: the manifest's schema picks, types and checks the columns.

Each test makes a fixture project on disk (pyproject.toml with `[tool.mlprod]`, a trained
manifest, a data file) and reads it through `load_project`, as the commands do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlprod_cli.errors import UserError
from mlprod_cli.project import load_project
from mlprod_cli.project.data import EXAMPLE_SOURCE, sample
from mlprod_cli.project.models import find_trained_model
from mlprod_cli.project.schema import InputSchema

NAME = "homes"
FEATURES: list[dict[str, Any]] = [
    {"name": "size", "type": "number", "allowed": None},
    {"name": "rooms", "type": "integer", "allowed": None, "nullable": True},
    {"name": "city", "type": "string", "allowed": ["Lyon", "Paris"]},
    {"name": "note", "type": "string", "allowed": None, "nullable": False},
]
EXAMPLE = {"size": 50.5, "rooms": 2, "city": "Paris", "note": "x"}


def fixture_project(root: Path, data: str = "", data_file: str = "homes.csv") -> Path:
    """A trained project whose data is `data` (`[tool.mlprod.data]` added when given)."""
    (root / "models").mkdir(parents=True)
    (root / "data").mkdir()
    table = f'\n[tool.mlprod.data]\npath = "{data}"\n' if data else ""
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{NAME}"\n\n[tool.mlprod]\nmodel_name = "{NAME}"\n'
        f'model_version = "1.0.0"\n{table}'
    )
    manifest = {
        "name": NAME,
        "version": "1.0.0",
        "data": {"file": data_file},
        "input_schema": {"features": FEATURES, "example": EXAMPLE},
    }
    (root / "models" / f"{NAME}-1.0.0.json").write_text(json.dumps(manifest))
    return root


def rows_of(root: Path, limit: int | None = None) -> tuple[list[dict[str, Any]], str, str]:
    project = load_project(root)
    model = find_trained_model(project)
    found = sample(project, model.schema, model.manifest, limit)
    return found.rows, found.source(project.root), found.reason


def test_columns_are_chosen_by_name_wherever_the_target_is(tmp_path: Path) -> None:
    root = fixture_project(tmp_path)
    (root / "data" / "homes.csv").write_text(
        "price,note,extra,city,rooms,size\nhigh,a,1,Lyon,3,70.5\nlow,b,2,Paris,1,20\n"
    )
    rows, source, _ = rows_of(root)
    assert source == "data/homes.csv"
    assert rows == [
        {"size": 70.5, "rooms": 3, "city": "Lyon", "note": "a"},
        {"size": 20.0, "rooms": 1, "city": "Paris", "note": "b"},
    ]
    assert [list(row) for row in rows] == [["size", "rooms", "city", "note"]] * 2


def test_an_empty_cell_is_none_only_for_a_nullable_feature(tmp_path: Path) -> None:
    root = fixture_project(tmp_path)
    (root / "data" / "homes.csv").write_text(
        "size,rooms,city,note\n"
        "70,,Lyon,a\n"  # rooms is nullable: None
        ",2,Lyon,b\n"  # size is not: the row is unusable
        "30,1,Paris,\n"  # nor is note (nullable: false)
    )
    rows, _, _ = rows_of(root)
    assert rows == [{"size": 70.0, "rooms": None, "city": "Lyon", "note": "a"}]


@pytest.mark.parametrize(
    "line",
    [
        "big,1,Lyon,a",  # not a number
        "40,1.5,Lyon,a",  # not an integer
        "nan,1,Lyon,a",  # not finite
        "40,1,Nice,a",  # not an allowed value
        "40,1,Lyon",  # a short record
    ],
)
def test_a_value_that_does_not_fit_the_schema_drops_its_row(tmp_path: Path, line: str) -> None:
    root = fixture_project(tmp_path)
    (root / "data" / "homes.csv").write_text(f"size,rooms,city,note\n{line}\n7,1,Lyon,ok\n")
    rows, _, _ = rows_of(root)
    assert rows == [{"size": 7.0, "rooms": 1, "city": "Lyon", "note": "ok"}]


def test_the_configured_data_path_is_read_relative_to_the_project(tmp_path: Path) -> None:
    root = fixture_project(tmp_path, data="raw/train.csv")
    (root / "raw").mkdir()
    (root / "raw" / "train.csv").write_text("size,rooms,city,note\n5,1,Lyon,a\n")
    (root / "data" / "homes.csv").write_text("size,rooms,city,note\n9,9,Paris,z\n")
    rows, source, _ = rows_of(root)
    assert (source, rows) == (
        "raw/train.csv",
        [{"size": 5.0, "rooms": 1, "city": "Lyon", "note": "a"}],
    )


def test_a_parquet_file_falls_back_to_the_example_saying_why(tmp_path: Path) -> None:
    root = fixture_project(tmp_path, data="data/train.parquet")
    (root / "data" / "train.parquet").write_bytes(b"PAR1\x00\x00PAR1")
    (root / "data" / "homes.csv").write_text("size,rooms,city,note\n9,9,Paris,z\n")
    rows, source, reason = rows_of(root)
    assert (source, rows) == (EXAMPLE_SOURCE, [EXAMPLE])
    assert reason == (
        f"{root / 'data' / 'train.parquet'} is not CSV, and mlprod reads data with "
        "Python's standard library only"
    )


def test_without_configuration_the_training_file_comes_first_then_other_csvs(
    tmp_path: Path,
) -> None:
    root = fixture_project(tmp_path, data_file="missing.csv")
    (root / "data" / "a-unrelated.csv").write_text("x,y\n1,2\n")
    (root / "data" / "b-homes.csv").write_text("size,rooms,city,note\n3,1,Lyon,a\n")
    rows, source, _ = rows_of(root)
    assert (source, len(rows)) == ("data/b-homes.csv", 1)


def test_rows_stop_at_the_limit(tmp_path: Path) -> None:
    root = fixture_project(tmp_path)
    lines = "".join(f"{i},{i},Lyon,a\n" for i in range(50))
    (root / "data" / "homes.csv").write_text("size,rooms,city,note\n" + lines)
    rows, _, _ = rows_of(root, limit=10)
    assert [row["rooms"] for row in rows] == list(range(10))


def test_a_data_path_that_is_not_a_string_is_a_user_error(tmp_path: Path) -> None:
    root = fixture_project(tmp_path)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.mlprod.data]\npath = 3\n")
    with pytest.raises(UserError) as error:
        rows_of(root)
    assert str(error.value) == (
        f'{pyproject}: [tool.mlprod.data] path must be a file path, e.g. path = "data/train.csv"'
    )


def test_a_feature_of_an_unknown_type_makes_the_schema_unusable() -> None:
    manifest = {"input_schema": {"features": [{"name": "a", "type": "date"}], "example": {"a": 1}}}
    with pytest.raises(UserError) as error:
        InputSchema.from_manifest(manifest, "m.json")
    assert str(error.value) == (
        "m.json is not a usable model manifest: feature 'a' has type 'date', "
        "not one of number, integer, string"
    )
