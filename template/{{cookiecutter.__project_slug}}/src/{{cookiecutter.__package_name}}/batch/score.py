"""One chunk of rows in, its predictions and its rejects out: the API's validation, then the model.

Rows are checked by the very pydantic model the API checks a request's instances with
(`api.schemas.RequestSchema.instance_model`) and turned into the same feature matrix
(`RequestSchema.matrix`), so an instance gets the same answer, or the same refusal, by
either road. The only step before it is reading text: a CSV cell of a numeric feature
must parse as a number (as a JSON body must be JSON); one that does not rejects its row.
A rejected row carries the reason, as the API words it, with the feature's name.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import TypeAdapter, ValidationError

from ..api.schemas import RequestSchema
from ..model.base import InvalidInputError, Model
from ..model.manifest import Manifest
from ..store import keys
from ..store.redis_store import encode

PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
REASON = "reason"


@dataclass(frozen=True)
class Scored:
    """A chunk's answers: ``output`` (id, prediction, probabilities, model), ``rejects``
    (id, the features as text, reason) and, when asked, each answer's store entries."""

    output: pd.DataFrame
    rejects: pd.DataFrame
    stored: list[tuple[str, bytes]]


class Scorer:
    """Scores chunks with one loaded model."""

    def __init__(
        self, model: Model, manifest: Manifest, id_column: str | None, store_keys: bool
    ) -> None:
        self._model = model
        self._manifest = manifest
        self._schema = manifest.input_schema
        self._classifier = manifest.output.task == "classification"
        self._classes = [str(label) for label in manifest.output.classes]
        self._request = RequestSchema(self._schema, sys.maxsize, self._classifier)
        instance: Any = self._request.instance_model
        self._rows: TypeAdapter[list[Any]] = TypeAdapter(list[instance])
        self._id_column = id_column
        self._store_keys = store_keys
        self._numeric = [f.name for f in self._schema.features if f.type != "string"]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._schema.names

    @property
    def probability_columns(self) -> list[str]:
        return [PROBABILITY_PREFIX + label for label in self._classes] if self._classifier else []

    def score(self, chunk: pd.DataFrame) -> Scored:
        names = list(self._schema.names)
        reasons: dict[int, str] = {}
        frame = chunk[names].copy()
        for name in self._numeric:
            column = frame[name]
            if column.dtype == object or pd.api.types.is_string_dtype(column):
                numbers = pd.to_numeric(column, errors="coerce")
                for position in np.flatnonzero(column.notna() & numbers.isna()):
                    reasons.setdefault(
                        int(position),
                        f"{name}: {column.iloc[position]!r} is not a number",
                    )
                frame[name] = numbers
        records: list[dict[str, Any]] = [
            {str(key): value for key, value in record.items()}
            for record in frame.astype(object).where(frame.notna(), None).to_dict("records")
        ]
        instances = self._validate(records, reasons)
        kept = [position for position in range(len(records)) if position not in reasons]
        output, stored = self._answers(chunk, kept, instances)
        rejected = sorted(reasons)
        rejects = chunk.iloc[rejected].copy()
        for name in names:
            rejects[name] = [None if _missing(v) else str(v) for v in rejects[name].tolist()]
        rejects[REASON] = [reasons[position] for position in rejected]
        return Scored(output=output, rejects=rejects.reset_index(drop=True), stored=stored)

    def _validate(self, records: list[dict[str, Any]], reasons: dict[int, str]) -> list[Any]:
        """The validated instances of the rows without a reason; a reason for each other."""
        while True:
            positions = [position for position in range(len(records)) if position not in reasons]
            try:
                return self._rows.validate_python([records[position] for position in positions])
            except ValidationError as exc:
                for error in exc.errors(include_url=False, include_input=False):
                    index, *field = error["loc"]
                    where = ".".join(str(part) for part in field) or "row"
                    reasons.setdefault(positions[int(index)], f"{where}: {error['msg']}")

    def _answers(
        self, chunk: pd.DataFrame, kept: list[int], instances: Sequence[Any]
    ) -> tuple[pd.DataFrame, list[tuple[str, bytes]]]:
        output = pd.DataFrame(index=range(len(kept)))
        if self._id_column:
            output[self._id_column] = chunk[self._id_column].iloc[kept].to_numpy()
        predictions: list[Any] = []
        probabilities: np.ndarray | None = None
        if instances:
            features = self._request.matrix(instances)
            try:
                predictions = self._model.predict(features).tolist()
                if self._classifier:
                    probabilities = self._model.predict_proba(features)
            except InvalidInputError as exc:
                raise ValueError(f"the model refused validated rows: {exc}") from exc
        output[PREDICTION] = pd.Series(predictions, dtype=_prediction_dtype(self._manifest))
        for index, column in enumerate(self.probability_columns):
            values: Any = probabilities[:, index] if probabilities is not None else []
            output[column] = pd.Series(values, dtype=np.float64)
        output[MODEL_NAME] = self._manifest.name
        output[MODEL_VERSION] = self._manifest.version
        stored: list[tuple[str, bytes]] = []
        if self._store_keys and instances:
            stored = self._entries(features, predictions, probabilities, output)
        return output, stored

    def _entries(
        self,
        features: np.ndarray,
        predictions: list[Any],
        probabilities: np.ndarray | None,
        output: pd.DataFrame,
    ) -> list[tuple[str, bytes]]:
        """``(key, value)`` per answer: by the row's digest, and by its id when there is one."""
        name, version = self._manifest.name, self._manifest.version
        rows = probabilities.tolist() if probabilities is not None else None
        ids = output[self._id_column].tolist() if self._id_column else None
        entries = []
        for index, prediction in enumerate(predictions):
            answer = dict(zip(self._classes, rows[index], strict=True)) if rows else None
            value = encode(prediction, answer)
            entries.append((keys.row_key(name, version, self._schema, features[index]), value))
            if ids is not None:
                entries.append((keys.id_key(name, version, ids[index]), value))
        return entries


def _prediction_dtype(manifest: Manifest) -> Any:
    if manifest.output.task != "classification":
        return np.float64
    classes = manifest.output.classes
    if classes and all(isinstance(label, int) and not isinstance(label, bool) for label in classes):
        return np.int64
    return object


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
