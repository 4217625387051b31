"""Answers from the prediction store first (``PREDICTION_STORE``), the model for the rest.

A request's instances are looked up in one round trip (MGET) by their canonical keys
(`store.keys`, the keys ``predict-batch --to`` writes); the hits are answered as stored,
only the misses go to the model. The store can only help: when it fails or is slower
than ``PREDICTION_STORE_TIMEOUT``, every instance goes to the model, the error is
counted (``prediction_store_errors`` in /metrics) and logged, and the store is left
alone for `COOLDOWN_SECONDS`, so a dead store costs one timeout, not one per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..model.manifest import Manifest
from ..store import keys
from ..store.redis_store import RedisStore, decode
from .metrics import Metrics

logger = logging.getLogger(__name__)

COOLDOWN_SECONDS = 1.0
"""After a store error, requests skip the store for this long."""

Predict = Callable[[np.ndarray], tuple[list[Any], list[dict[str, float]] | None]]
"""The model's answers for rows: predictions, and probabilities when asked for."""


class StoreFirst:
    """Looks instances up in the store, asks the model for the rest, merges in order."""

    def __init__(self, store: RedisStore, manifest: Manifest, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self._schema = manifest.input_schema
        self._name, self._version = manifest.name, manifest.version
        self._skip_until = 0.0

    def predict(
        self, features: np.ndarray, with_probabilities: bool, predict: Predict
    ) -> tuple[list[Any], list[dict[str, float]] | None, list[bool]]:
        """Predictions, probabilities (if asked for) and, per instance, whether it was stored."""
        stored = self._lookup(features, with_probabilities)
        misses = [index for index, answer in enumerate(stored) if answer is None]
        hits = len(stored) - len(misses)
        self._metrics.store_looked_up(hits, len(misses))
        if not hits:
            predictions, probabilities = predict(features)
            return predictions, probabilities, [False] * len(predictions)
        predictions = [answer["prediction"] if answer else None for answer in stored]
        probabilities = (
            [answer["probabilities"] if answer else {} for answer in stored]
            if with_probabilities
            else None
        )
        if misses:
            model_predictions, model_probabilities = predict(features[misses])
            for position, index in enumerate(misses):
                predictions[index] = model_predictions[position]
                if probabilities is not None and model_probabilities is not None:
                    probabilities[index] = model_probabilities[position]
        return predictions, probabilities, [answer is not None for answer in stored]

    def _lookup(self, features: np.ndarray, with_probabilities: bool) -> list[Any]:
        """The stored answer of each row, None where there is none (or the store failed)."""
        misses: list[Any] = [None] * len(features)
        if time.monotonic() < self._skip_until:
            return misses
        names = [keys.row_key(self._name, self._version, self._schema, row) for row in features]
        try:
            values = self._store.get_many(names)
        except self._store.errors as exc:
            self._skip_until = time.monotonic() + COOLDOWN_SECONDS
            self._metrics.store_failed()
            logger.warning(
                "prediction store unavailable, answering from the model",
                extra={"store_error": f"{type(exc).__name__}: {exc}"},
            )
            return misses
        answers = []
        for value in values:
            answer = None
            if value is not None:
                try:
                    answer = decode(value)
                except ValueError:
                    self._metrics.store_failed()
                if answer and with_probabilities and "probabilities" not in answer:
                    answer = None
            answers.append(answer)
        return answers
