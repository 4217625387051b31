"""The baseline for overhead.py: a bare WSGI function serving the same model.

It does only what any server must: parse the JSON body, put the instances into a
NumPy array in the manifest's feature order, predict, answer JSON. No routing, no
validation, no logging, no metrics, no auth. Served by uWSGI from the project's own
uwsgi.ini (overhead.py replaces only its ``module``); BARE_WSGI_MANIFEST names the
manifest of the model to load. The model is loaded in the runtime the service would
choose (``MODEL_RUNTIME``, ``auto`` by default: ONNX Runtime when the version was
compiled), so that both answer with the same model code and only the service's own work
differs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson

from {{ cookiecutter.__package_name }}.model import registry
from {{ cookiecutter.__package_name }}.model.predictor import Predictor

_manifest_path = Path(os.environ["BARE_WSGI_MANIFEST"])
_manifest = registry.read_manifest(_manifest_path)
_runtime = cast(registry.Runtime, os.environ.get("MODEL_RUNTIME", "auto"))
_model = registry.load_served(
    _manifest_path.parent, _manifest.name, _manifest.version, Predictor, None, _runtime
).model
_features = _manifest.input_schema.names
_dtype = _manifest.input_schema.dtype
_identity = {"name": _manifest.name, "version": _manifest.version}


def application(
    environ: dict[str, Any], start_response: Callable[[str, list[tuple[str, str]]], Any]
) -> Iterable[bytes]:
    body = orjson.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    rows = [[instance[name] for name in _features] for instance in body["instances"]]
    predictions = _model.predict(np.array(rows, dtype=_dtype)).tolist()
    payload = orjson.dumps({"predictions": predictions, "model": _identity})
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]
