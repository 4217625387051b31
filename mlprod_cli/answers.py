"""The answers a template is rendered with: which keys exist, and which values are allowed.

`mlprod new` and the template's pre-generation hook both call `validate`, so a bad
answer is caught the same way whichever of them renders the template.
"""

from __future__ import annotations

import itertools
import keyword
import re
import sys
from collections.abc import Mapping
from typing import Any

from mlprod_cli.errors import UserError

# A pragmatic check of an address's shape (local@domain.tld); deliverability is not ours to judge.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidAnswer(UserError):
    """An answer the template cannot be rendered with."""


def public_keys(context: Mapping[str, Any]) -> list[str]:
    """The answers a user may give: the keys of `cookiecutter.json` not starting with `_`."""
    return [key for key in context if not key.startswith("_")]


def unsupported(combination: Mapping[str, Any]) -> str | None:
    """Why a combination of choices cannot give a working project, or None when it can.

    The one rule behind the pre-generation hook and the test matrix. Every task works with
    every framework the template offers today; a framework limited to some tasks says so here.
    """
    return None


def option_matrix(choices: Mapping[str, list[str]]) -> list[dict[str, str]]:
    """Every supported combination of the choice variables (`unsupported` filters them)."""
    keys = sorted(choices)
    combinations = (
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(choices[key] for key in keys))
    )
    return [combination for combination in combinations if unsupported(combination) is None]


def validate(answers: Mapping[str, Any], choices: Mapping[str, list[str]]) -> None:
    """Raise `InvalidAnswer` naming the first answer that cannot produce a working project.

    `answers` is the rendered cookiecutter context (derived `__` names included);
    `choices` maps each choice variable to its allowed values.
    """
    for key, value in answers.items():
        if not key.startswith("_") and isinstance(value, str) and _CONTROL.search(value):
            raise InvalidAnswer(
                f"{key} {value!r} contains a line break or control character; give it on one line"
            )
    for key, allowed in choices.items():
        if key in answers and answers[key] not in allowed:
            raise InvalidAnswer(
                f"{key} {answers[key]!r} is not supported; choose one of: {', '.join(allowed)}"
            )
    reason = unsupported({key: answers[key] for key in choices if key in answers})
    if reason:
        raise InvalidAnswer(reason)
    _check_project_name(answers["project_name"], answers["__package_name"])
    email = answers.get("author_email", "")
    if not _EMAIL.match(email):
        raise InvalidAnswer(
            f"author_email {email!r} is not an e-mail address; give one like name@example.com"
        )


def _check_project_name(name: str, package: str) -> None:
    if not package or not package.isidentifier():
        raise InvalidAnswer(
            f"project_name {name!r} gives no valid package name ({package!r}); "
            "use letters, digits and spaces, starting with a letter"
        )
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        raise InvalidAnswer(
            f"project_name {name!r} gives the package name {package!r}, "
            "a Python keyword; choose another name"
        )
    if package in sys.stdlib_module_names:
        raise InvalidAnswer(
            f"project_name {name!r} gives the package name {package!r}, "
            "which would shadow Python's standard library; choose another name"
        )
