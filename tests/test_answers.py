"""The rules every answer must pass, shared by `mlprod new` and the pre-generation hook."""

from __future__ import annotations

from typing import Any

import pytest

from mlprod_cli.templating.answers import (
    InvalidAnswer,
    option_matrix,
    public_keys,
    unsupported,
    validate,
)

CHOICES = {"framework": ["sklearn"]}


def answers(**changes: Any) -> dict[str, Any]:
    base = {
        "project_name": "Credit Risk Scorer",
        "description": "Scores credit risk.",
        "author_name": "Ada",
        "author_email": "ada@example.com",
        "framework": "sklearn",
        "__project_slug": "credit-risk-scorer",
        "__package_name": "credit_risk_scorer",
        "__model_name": "credit-risk-scorer",
        "_template": "/tmp/template",
    }
    return {**base, **changes}


def test_good_answers_pass() -> None:
    validate(answers(), CHOICES)


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@sub.example.org"])
def test_addresses_of_the_usual_shapes_pass(email: str) -> None:
    validate(answers(author_email=email), CHOICES)


@pytest.mark.parametrize(
    "email", ["", "plain", "a@b", "a b@example.com", "a@@example.com", "a@.com"]
)
def test_addresses_of_other_shapes_are_refused(email: str) -> None:
    with pytest.raises(InvalidAnswer, match=r"^author_email .* is not an e-mail address"):
        validate(answers(author_email=email), CHOICES)


@pytest.mark.parametrize(
    ("package", "reason"),
    [("", "gives no valid package name"), ("9lives", "gives no valid package name"),
     ("import", "a Python keyword"), ("match", "a Python keyword"),
     ("typing", "shadow Python's standard library"),
     ("numpy", "the import name of numpy, which the project may depend on"),
     ("falcon", "the import name of falcon, which"),
     ("sklearn", "the import name of scikit-learn, which"),
     ("prometheus_client", "the import name of prometheus-client, which"),
     ("uwsgi", "the import name of pyuwsgi, which"),
     ("xgboost", "the import name of xgboost, which"),
     ("test", "a top-level name that test runners and tools already use"),
     ("tests", "a top-level name"), ("src", "a top-level name")],
)  # fmt: skip
def test_package_names_that_cannot_work_are_refused(package: str, reason: str) -> None:
    with pytest.raises(InvalidAnswer, match=reason):
        validate(answers(__package_name=package), CHOICES)


def test_unknown_choice_is_refused_with_the_allowed_values() -> None:
    with pytest.raises(InvalidAnswer, match=r"^framework 'torch' is not supported; .*: sklearn$"):
        validate(answers(framework="torch"), CHOICES)


def test_private_keys_are_not_checked_for_control_characters() -> None:
    validate(answers(_template="a\nb"), CHOICES)


def test_public_keys_skip_private_and_internal_ones() -> None:
    assert public_keys(answers()) == [
        "project_name", "description", "author_name", "author_email", "framework",
    ]  # fmt: skip


def test_the_option_matrix_is_every_supported_combination() -> None:
    matrix = option_matrix({"task": ["classification", "regression"], "framework": ["sklearn"]})
    assert matrix == [
        {"framework": "sklearn", "task": "classification"},
        {"framework": "sklearn", "task": "regression"},
    ]
    assert all(unsupported(combination) is None for combination in matrix)
