"""Canonical keys of stored predictions: one instance, one key, wherever it was scored.

A prediction is stored under its model's name and version and a key of the instance:

    predictions:<name>:<version>:row:<sha256>   the validated row, in a typed canonical form
    predictions:<name>:<version>:id:<id>        the row's id, when a batch names an id column

The digest is taken over the row as validation leaves it (the API's and the batch's
feature matrix, see `api.schemas.RequestSchema.matrix`), each value tagged by its
feature's type, so the key never depends on how a client wrote a number: ``5``, ``5.0``
and ``5.00`` are one number feature value (``f:0x1.4000000000000p+2``, exact, unlike
``str(float)``); an integer feature is its integer (``i:5``); a string is JSON-quoted
(``s:"setosa"``); a missing value is ``n``. ``-0.0`` is ``0.0``. The model version is in
the key, so a new version never answers from an older one's predictions.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

from ..model.schema import MISSING_STRING, InputSchema

PREFIX = "predictions"
_SEPARATOR = "\x1f"  # the ASCII unit separator: in no tagged value


def row_token(schema: InputSchema, row: Sequence[Any]) -> str:
    """The canonical, typed text of one validated row (schema order); what is hashed."""
    parts = []
    for feature, value in zip(schema.features, row, strict=True):
        if feature.type == "string":
            missing = value is None or value == MISSING_STRING
            parts.append("n" if missing else "s:" + json.dumps(str(value), ensure_ascii=False))
            continue
        number = float(value) if value is not None else math.nan
        if math.isnan(number):
            parts.append("n")
        elif feature.type == "integer":
            parts.append(f"i:{int(number)}")
        else:
            parts.append(f"f:{(number + 0.0).hex()}")  # + 0.0 turns -0.0 into 0.0
    return _SEPARATOR.join(parts)


def row_key(name: str, version: str, schema: InputSchema, row: Sequence[Any]) -> str:
    """The key of a validated row's prediction by model ``name`` and ``version``."""
    digest = hashlib.sha256(row_token(schema, row).encode("utf-8")).hexdigest()
    return f"{PREFIX}:{name}:{version}:row:{digest}"


def id_key(name: str, version: str, identifier: Any) -> str:
    """The key of a row's prediction by its id (the batch's ``--id-column``)."""
    return f"{PREFIX}:{name}:{version}:id:{identifier}"
