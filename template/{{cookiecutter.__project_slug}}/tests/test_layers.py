"""The model layer stands alone: it imports nothing from the API layer or its libraries."""

from __future__ import annotations

import json
import subprocess
import sys

import {{ cookiecutter.__package_name }} as package

API_LIBRARIES = {"falcon", "pydantic", "pydantic_core", "orjson"}

PROBE = """
import importlib, json, pkgutil, sys
import {package}.model as model
for module in pkgutil.walk_packages(model.__path__, model.__name__ + "."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_model_layer_imports_no_api_code_or_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(package=package.__name__)],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = json.loads(result.stdout)
    assert f"{package.__name__}.model.train" in modules
    forbidden = [
        name
        for name in modules
        if name.startswith(f"{package.__name__}.api") or name.split(".")[0] in API_LIBRARIES
    ]
    assert forbidden == []
