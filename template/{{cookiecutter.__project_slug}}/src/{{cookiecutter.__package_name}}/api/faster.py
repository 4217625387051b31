"""Faster answers for slow models: the cache, then the prediction store, then the model,
its calls shared by concurrent requests; each level only when it is on.

`PredictResource` hands a request's validated rows here when ``PREDICTION_CACHE`` or
``BATCH_MAX_SIZE`` is set (see cache.py and batching.py); otherwise it keeps its own,
shorter path, so the default service pays nothing for either.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .batching import Answers, ComputeRows, MicroBatcher
from .cache import PredictionCache
from .store import StoreFirst


class Faster:
    """The cache (may be None) in front of the store and the batched model (may be None)."""

    def __init__(self, cache: PredictionCache | None, batcher: MicroBatcher | None) -> None:
        self._cache = cache
        self._batcher = batcher

    def answer(
        self,
        features: np.ndarray,
        with_probabilities: bool,
        compute: ComputeRows,
        store: StoreFirst | None,
        log_fields: dict[str, Any],
    ) -> tuple[list[Any], list[dict[str, float]] | None, list[bool] | None]:
        """Predictions, probabilities (if asked for) and, with a store, which were stored;
        `compute` is the model's own call. The log line gets ``cache_hits`` and
        ``batch_rows``."""
        predict = compute
        if (batcher := self._batcher) is not None:

            def predict(rows: np.ndarray, probabilities: bool) -> Answers:
                return batcher.predict(rows, probabilities, compute, log_fields)

        if self._cache is None:
            return _below_cache(features, with_probabilities, predict, store)
        stored: list[list[bool] | None] = [None]

        def predict_misses(rows: np.ndarray) -> Answers:
            predictions, probabilities, stored[0] = _below_cache(
                rows, with_probabilities, predict, store
            )
            return predictions, probabilities

        predictions, probabilities, cached = self._cache.predict(
            features, with_probabilities, predict_misses
        )
        log_fields["cache_hits"] = sum(cached)
        if store is None:
            return predictions, probabilities, None
        misses = iter(stored[0] or ())
        return predictions, probabilities, [False if hit else next(misses) for hit in cached]


def _below_cache(
    features: np.ndarray, with_probabilities: bool, predict: ComputeRows, store: StoreFirst | None
) -> tuple[list[Any], list[dict[str, float]] | None, list[bool] | None]:
    if store is None:
        return (*predict(features, with_probabilities), None)
    return store.predict(
        features, with_probabilities, lambda rows: predict(rows, with_probabilities)
    )
