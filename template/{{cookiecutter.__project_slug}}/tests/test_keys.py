"""Canonical prediction keys: equal for the same validated instance, however it was written."""

from __future__ import annotations

import json

from {{ cookiecutter.__package_name }}.api.schemas import RequestSchema
from {{ cookiecutter.__package_name }}.model.schema import Feature, InputSchema
from {{ cookiecutter.__package_name }}.store import keys

from contract import EXAMPLE, SCHEMA

MIXED = InputSchema(
    features=(
        Feature("amount", "number"),
        Feature("count", "integer", nullable=True),
        Feature("colour", "string", allowed=("blue", "red"), nullable=True),
    ),
    example={"amount": 1.5, "count": 2, "colour": "red"},
)


def key(schema: InputSchema, instance: dict[str, object], version: str = "1.0.0") -> str:
    """The key of ``instance`` after the API's validation (its matrix row)."""
    request = RequestSchema(schema, 10, classifier=False)
    features, _ = request.parse(json.dumps({"instances": [instance]}).encode())
    return keys.row_key("model", version, schema, features[0])


def test_how_a_number_is_written_does_not_change_the_key() -> None:
    base = key(MIXED, {"amount": 5, "count": 3, "colour": "red"})
    assert key(MIXED, {"amount": 5.0, "count": 3.0, "colour": "red"}) == base
    assert key(MIXED, {"amount": 5.000, "count": 3, "colour": "red"}) == base


def test_any_other_value_changes_the_key() -> None:
    base = key(MIXED, {"amount": 5, "count": 3, "colour": "red"})
    others = [
        {"amount": 5.000000000000001, "count": 3, "colour": "red"},
        {"amount": 5, "count": 4, "colour": "red"},
        {"amount": 5, "count": None, "colour": "red"},
        {"amount": 5, "count": 3, "colour": "blue"},
        {"amount": 5, "count": 3, "colour": None},
    ]
    found = {key(MIXED, instance) for instance in others}
    assert len(found) == len(others)
    assert base not in found


def test_the_token_is_typed_and_exact_not_str_of_a_float() -> None:
    token = keys.row_token(MIXED, [0.1, 7.0, "red"])
    assert token.split("\x1f") == [f"f:{(0.1).hex()}", "i:7", 's:"red"']
    assert keys.row_token(MIXED, [-0.0, float("nan"), ""]) == keys.row_token(
        MIXED, [0.0, None, None]
    )


def test_the_model_version_is_part_of_the_key() -> None:
    instance = {"amount": 5, "count": 3, "colour": "red"}
    assert key(MIXED, instance, "1.0.0") != key(MIXED, instance, "1.0.1")
    assert key(MIXED, instance).startswith(f"{keys.PREFIX}:model:1.0.0:row:")
    assert keys.id_key("model", "1.0.0", 42) == f"{keys.PREFIX}:model:1.0.0:id:42"


def test_the_projects_example_has_a_stable_key() -> None:
    first = key(SCHEMA, EXAMPLE)
    assert first == key(SCHEMA, dict(EXAMPLE))
    assert len(first.rpartition(":")[2]) == 64
