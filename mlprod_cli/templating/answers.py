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


# The import names of every distribution a generated project may depend on, for any
# framework option, runtime or extra (and the libraries they pull in that are imported by
# name). A project whose package takes one of these names shadows that library, or cannot
# be installed beside it. tests/test_answers.py checks that every dependency in the
# generated pyproject.toml is listed here: add a line when the template gains one.
DEPENDENCY_IMPORTS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "scikit-learn": ("sklearn",),
    "joblib": ("joblib",),
    "threadpoolctl": ("threadpoolctl",),
    "semver": ("semver",),
    "tomli": ("tomli",),
    "falcon": ("falcon",),
    "pydantic": ("pydantic", "pydantic_core"),
    "pydantic-settings": ("pydantic_settings", "dotenv"),
    "pyuwsgi": ("pyuwsgi", "uwsgi", "uwsgidecorators"),
    "gevent": ("gevent", "greenlet", "zope"),
    "orjson": ("orjson",),
    "cachetools": ("cachetools",),
    "prometheus-client": ("prometheus_client",),
    "swagger-ui-py": ("swagger_ui",),
    "pytest": ("pytest", "_pytest", "pluggy"),
    "ruff": ("ruff",),
    "mypy": ("mypy", "mypyc", "mypy_extensions"),
    # Stub-only distributions: their folders (pandas-stubs, ...) are no import names.
    "pandas-stubs": (),
    "types-gevent": (),
    "types-uwsgi": (),
    "types-cachetools": (),
    "pre-commit": ("pre_commit", "cfgv", "identify", "nodeenv", "virtualenv"),
    "pre-commit-hooks": ("pre_commit_hooks",),
    "schemathesis": ("schemathesis", "hypothesis"),
    "pyperf": ("pyperf",),
    "pandas": ("pandas",),
    "pyarrow": ("pyarrow",),
    "skops": ("skops",),
    "xgboost": ("xgboost",),
    "xgboost-cpu": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime",),
    "skl2onnx": ("skl2onnx",),
    "onnxmltools": ("onnxmltools",),
    "torch": ("torch",),
    "onnxscript": ("onnxscript", "onnx_ir"),
    "mlflow": ("mlflow",),
    "mlflow-skinny": ("mlflow",),
    "dvc": ("dvc",),
    "redis": ("redis",),
    "pyspark": ("pyspark",),
}
# Top-level names a project's own files or common tools already use.
RESERVED_PACKAGE_NAMES = frozenset(
    {"test", "tests", "src", "setup", "conftest", "docs", "benchmarks", "scripts", "build",
     "dist", "site", "lib", "servers", "stall_model"}
)  # fmt: skip


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
    for distribution, imports in DEPENDENCY_IMPORTS.items():
        if package in imports:
            raise InvalidAnswer(
                f"project_name {name!r} gives the package name {package!r}, the import name of "
                f"{distribution}, which the project may depend on; choose another name"
            )
    if package in RESERVED_PACKAGE_NAMES:
        raise InvalidAnswer(
            f"project_name {name!r} gives the package name {package!r}, a top-level name "
            "that test runners and tools already use; choose another name"
        )
