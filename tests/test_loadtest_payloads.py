"""Load-test payloads: varied instances from the training data or the schema's example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlprod_cli.errors import UserError
from mlprod_cli.loadtest import payloads
from mlprod_cli.project import Project

MANIFEST: dict[str, Any] = {
    "data": {"file": "homes.csv"},
    "input_schema": {
        "features": [
            {"name": "size", "type": "number", "allowed": None},
            {"name": "rooms", "type": "integer", "allowed": None},
            {"name": "city", "type": "string", "allowed": ["Lyon", "Paris"]},
        ],
        "example": {"size": 50.0, "rooms": 2, "city": "Lyon"},
    },
}


def project(root: Path) -> Project:
    return Project(
        root=root, slug="homes", package="homes", model_name="homes", model_version="0.1.0"
    )


def instances(result: payloads.Payloads) -> list[dict[str, Any]]:
    bodies = [json.loads(body) for body in result.bodies]
    assert all(len(body["instances"]) == 1 for body in bodies)
    return [body["instances"][0] for body in bodies]


def write_data(root: Path, text: str) -> Path:
    (root / "data").mkdir(exist_ok=True)
    path = root / "data" / "homes.csv"
    path.write_text(text)
    return path


def test_rows_of_the_training_data_without_the_target_column(tmp_path: Path) -> None:
    path = write_data(
        tmp_path, "size,rooms,city,price\n42.5,1,Paris,high\n80,3,Lyon,low\n61.0,2,Lyon,low\n"
    )
    result = payloads.from_manifest(MANIFEST, project(tmp_path))
    assert instances(result) == [
        {"size": 42.5, "rooms": 1, "city": "Paris"},
        {"size": 80.0, "rooms": 3, "city": "Lyon"},
        {"size": 61.0, "rooms": 2, "city": "Lyon"},
    ]
    assert result.source == f"3 rows of {path} without its target column"


def test_rows_that_do_not_fit_the_schema_are_left_out(tmp_path: Path) -> None:
    write_data(tmp_path, "size,rooms,city,price\nbig,1,Paris,high\n80,3,Nice,low\n61,2,Lyon,low\n")
    assert instances(payloads.from_manifest(MANIFEST, project(tmp_path))) == [
        {"size": 61.0, "rooms": 2, "city": "Lyon"}
    ]


def test_many_rows_are_thinned_evenly(tmp_path: Path) -> None:
    rows = "".join(f"{i},1,Lyon,low\n" for i in range(3000))
    write_data(tmp_path, "size,rooms,city,price\n" + rows)
    sizes = [row["size"] for row in instances(payloads.from_manifest(MANIFEST, project(tmp_path)))]
    assert len(sizes) == payloads.MAX_BODIES
    assert sizes[:3] == [0.0, 3.0, 6.0]
    assert sizes[-1] == 2997.0


def test_without_the_data_file_instances_vary_around_the_example(tmp_path: Path) -> None:
    result = payloads.from_manifest(MANIFEST, project(tmp_path))
    rows = instances(result)
    assert len(rows) == payloads.SYNTHETIC_BODIES
    assert len({row["size"] for row in rows}) > 50, "varied, not one repeated row"
    assert all(45.0 <= row["size"] <= 55.0 for row in rows)
    assert all(isinstance(row["rooms"], int) for row in rows)
    assert {row["city"] for row in rows} == {"Lyon", "Paris"}
    assert result.source == (
        f"100 variations of the manifest's example instance "
        f"({tmp_path / 'data' / 'homes.csv'} not found)"
    )


def test_a_data_file_missing_a_feature_column_falls_back_to_the_example(tmp_path: Path) -> None:
    path = write_data(tmp_path, "size,city,price\n42,Paris,high\n")
    result = payloads.from_manifest(MANIFEST, project(tmp_path))
    assert result.source.endswith(f"({path} has no column 'rooms')")


def test_without_a_project_instances_vary_around_the_example() -> None:
    result = payloads.from_manifest(MANIFEST, None)
    assert result.source.endswith("(no project folder to find the data in)")


def test_a_manifest_without_an_input_schema_asks_for_a_payload_file() -> None:
    with pytest.raises(
        UserError,
        match=r"^the served model's manifest is not a usable model manifest: no 'input_schema'; "
        r"pass --payload FILE",
    ):
        payloads.from_manifest({"name": "x"}, None)


def test_payload_file_with_one_body_or_a_list(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text('{"instances": [{"size": 1}]}')
    assert payloads.from_file(one).bodies == ('{"instances":[{"size":1}]}',)
    many = tmp_path / "many.json"
    many.write_text('[{"instances": [{"size": 1}]}, {"instances": [{"size": 2}]}]')
    result = payloads.from_file(many)
    assert len(result.bodies) == 2
    assert result.source == f"2 request bodies from {many}"
