"""A batch run: the input read in chunks, each scored (here or on Spark), written, stored.

Whatever the engine, every chunk goes through the same `score.Scorer` and comes back
to this process, which writes the one output file and the rejects file (`sink`) and, with
a store, sets the predictions in Redis, pipelined, one round trip a chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..model.base import Model
from ..model.registry import LoadedModel
from . import Engine
from .score import MODEL_NAME, MODEL_VERSION, PREDICTION, REASON, Scored, Scorer
from .sink import Sink, check_output, rejects_path
from .source import BatchError, Source, chunks, open_source

STORE_TIMEOUT = 5.0
"""Seconds a batch waits on Redis for a connection or a pipeline before it fails."""

Progress = Callable[[int, float], None]
"""Called after each chunk with the rows read so far and the seconds since the start."""


@dataclass(frozen=True)
class BatchOptions:
    input: Path
    output: Path
    id_column: str | None = None
    engine: Engine = "local"
    master: str | None = None
    store_url: str | None = None
    ttl: int | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class Summary:
    """What a run did, for the summary line and ``--json``."""

    model_name: str
    model_version: str
    engine: Engine
    rows: int
    scored: int
    rejected: int
    seconds: float
    output: Path
    rejects: Path
    stored: int | None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        stored = f"; {self.stored} keys set in the store" if self.stored is not None else ""
        return (
            f"Scored {self.rows} rows with {self.model_name} {self.model_version} "
            f"({self.engine}): {self.scored} predictions, {self.rejected} rejected, "
            f"in {self.seconds:.2f} s ({self.rows_per_second:,.0f} rows/s) -> {self.output} "
            f"(rejects: {self.rejects}){stored}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": {"name": self.model_name, "version": self.model_version},
            "engine": self.engine,
            "rows": self.rows,
            "scored": self.scored,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "output": str(self.output),
            "rejects": str(self.rejects),
            "stored": self.stored,
        }


def run(
    loaded: LoadedModel[Model],
    models_dir: Path,
    options: BatchOptions,
    progress: Progress | None = None,
) -> Summary:
    """Score ``options.input`` into ``options.output``; `BatchError` before writing anything
    when an input, an option or the store cannot be used."""
    manifest = loaded.manifest
    schema = manifest.input_schema
    if options.id_column and options.id_column in schema.names:
        raise BatchError(
            f"--id-column {options.id_column!r} is one of the model's features; name a column "
            "that identifies rows"
        )
    source = open_source(options.input, schema.names, options.id_column)
    check_output(options.output, options.input, options.overwrite)
    store = _store(options.store_url)
    scorer = Scorer(loaded.model, manifest, options.id_column, store is not None)
    started = time.perf_counter()
    rows = 0
    stored = 0
    try:
        with Sink(options.output, *_schemas(source, scorer, loaded)) as sink:
            for scored in _scored(source, scorer, loaded, models_dir, options, store is not None):
                sink.output.write(scored.output)
                sink.rejects.write(scored.rejects)
                if store is not None:
                    stored += _put(store, scored, options.ttl)
                rows += len(scored.output) + len(scored.rejects)
                if progress is not None:
                    progress(rows, time.perf_counter() - started)
            scored_rows, rejected = sink.output.rows, sink.rejects.rows
    finally:
        if store is not None:
            store.close()
    return Summary(
        model_name=manifest.name,
        model_version=manifest.version,
        engine=options.engine,
        rows=rows,
        scored=scored_rows,
        rejected=rejected,
        seconds=time.perf_counter() - started,
        output=options.output,
        rejects=rejects_path(options.output),
        stored=stored if store is not None else None,
    )


def _scored(
    source: Source,
    scorer: Scorer,
    loaded: LoadedModel[Model],
    models_dir: Path,
    options: BatchOptions,
    store_keys: bool,
) -> Iterator[Scored]:
    if options.engine == "spark":
        from . import spark

        yield from spark.scored_chunks(
            source,
            loaded.manifest,
            models_dir,
            options.id_column,
            store_keys,
            options.master,
            options.output.parent,
            loaded.runtime,
        )
        return
    for chunk in chunks(source):
        yield scorer.score(chunk)


def _schemas(
    source: Source, scorer: Scorer, loaded: LoadedModel[Model]
) -> tuple[pa.Schema, pa.Schema]:
    """The output's columns and the rejects file's, fixed before the first chunk."""
    output = loaded.manifest.output
    ids = [pa.field(source.columns[0], source.id_type)] if source.id_type is not None else []
    if output.task != "classification":
        prediction = pa.float64()
    elif output.classes and all(
        isinstance(label, int) and not isinstance(label, bool) for label in output.classes
    ):
        prediction = pa.int64()
    else:
        prediction = pa.string()
    output_schema = pa.schema(
        [
            *ids,
            pa.field(PREDICTION, prediction),
            *(pa.field(name, pa.float64()) for name in scorer.probability_columns),
            pa.field(MODEL_NAME, pa.string()),
            pa.field(MODEL_VERSION, pa.string()),
        ]
    )
    features = [pa.field(name, pa.string()) for name in loaded.manifest.input_schema.names]
    rejects_schema = pa.schema([*ids, *features, pa.field(REASON, pa.string())])
    return output_schema, rejects_schema


def _store(url: str | None) -> Any:
    if url is None:
        return None
    from ..store.redis_store import RedisStore, StoreError

    try:
        store = RedisStore(url, STORE_TIMEOUT)
        store.ping()
    except StoreError as exc:
        raise BatchError(f"--to: {exc}") from None
    return store


def _put(store: Any, scored: Scored, ttl: int | None) -> int:
    try:
        return int(store.put_many(scored.stored, ttl))
    except store.errors as exc:
        raise BatchError(f"--to {store.url}: writing failed: {exc}") from None
