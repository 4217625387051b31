"""A prediction cache in each worker (``PREDICTION_CACHE`` entries, least recently used out).

An instance is known by the served model's name and version and the canonical form of
its validated row, the one the prediction store's keys are made of (`store.keys`), so
``5`` and ``5.0`` are one instance. A worker serves one version; a version switch
replaces the workers (a chain reload) and their caches with them, and the version is in
the key besides, so no answer crosses versions. An entry holds exactly what the model
answered (probabilities when they were asked for), so a hit is the model's answer.

It sits in front of the prediction store (``PREDICTION_STORE``), the shared second level:
only the cache's misses are looked up there, and what the store or the model answers is
kept here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from cachetools import LRUCache
from prometheus_client import CollectorRegistry, Counter

from ..model.manifest import Manifest
from ..store import keys

Answers = tuple[list[Any], list[dict[str, float]] | None]
"""Predictions, and probabilities when asked for, one per row."""

Entry = tuple[Any, dict[str, float] | None]


class CacheMetrics:
    """Instances answered from the cache, and those that went past it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        lookups = Counter(
            "prediction_cache_lookups",
            "Instances looked up in the worker's prediction cache (PREDICTION_CACHE), by result.",
            ["result"],
            registry=registry,
        )
        self._hits = lookups.labels("hit")
        self._misses = lookups.labels("miss")

    def looked_up(self, hits: int, misses: int) -> None:
        if hits:
            self._hits.inc(hits)
        if misses:
            self._misses.inc(misses)


class PredictionCache:
    """Answers known instances from memory, the rest from `predict`, and keeps those."""

    def __init__(self, entries: int, manifest: Manifest, metrics: CacheMetrics) -> None:
        self._entries: LRUCache[tuple[str, str, str], Entry] = LRUCache(maxsize=entries)
        self._schema = manifest.input_schema
        self._name, self._version = manifest.name, manifest.version
        self._metrics = metrics

    def predict(
        self,
        features: np.ndarray,
        with_probabilities: bool,
        predict: Callable[[np.ndarray], Answers],
    ) -> tuple[list[Any], list[dict[str, float]] | None, list[bool]]:
        """Predictions, probabilities (if asked for) and, per instance, whether it was cached."""
        names = [
            (self._name, self._version, keys.row_token(self._schema, row))
            for row in features.tolist()
        ]
        found: list[Entry | None] = []
        for name in names:
            entry = self._entries.get(name)
            if entry is not None and with_probabilities and entry[1] is None:
                entry = None  # kept without probabilities: ask again, with them
            found.append(entry)
        misses = [index for index, entry in enumerate(found) if entry is None]
        self._metrics.looked_up(len(names) - len(misses), len(misses))
        if misses:
            rows = features if len(misses) == len(names) else features[misses]
            predictions, probabilities = predict(rows)
            for position, index in enumerate(misses):
                entry = (
                    predictions[position],
                    probabilities[position] if probabilities is not None else None,
                )
                self._entries[names[index]] = entry
                found[index] = entry
        entries = [entry for entry in found if entry is not None]
        missed = set(misses)
        return (
            [entry[0] for entry in entries],
            [entry[1] or {} for entry in entries] if with_probabilities else None,
            [index not in missed for index in range(len(names))],
        )
