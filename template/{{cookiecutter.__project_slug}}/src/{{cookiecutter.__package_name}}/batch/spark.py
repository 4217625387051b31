"""The Spark engine: the same `score.Scorer` applied to each partition with ``mapInPandas``.

The driver (this process) ships the model's artifact and manifest to the executors with
``SparkContext.addFile``; each executor's Python worker checks the artifact's SHA-256
against the manifest (and the manifest against the driver's) with the registry's own
gates before it loads it, once per worker process. The executors need this project
installed in the interpreter Spark starts for them (``spark.pyspark.python``: by default
the driver's own, which is right on one machine and on a cluster whose workers share the
same path). The executors write their results to Parquet parts in a scratch folder, which the
driver reads back in input order, in bounded batches, and `run` writes them as it
writes the local engine's.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec

import pandas as pd

from ..model.base import Model
from ..model.errors import IntegrityError
from ..model.manifest import Manifest
from ..model.predictor import Predictor
from ..model.registry import LoadedModel, Runtime, load_served, manifest_path
from .score import MODEL_NAME, MODEL_VERSION, REASON, Scored, Scorer
from .source import BatchError, Source

DEFAULT_MASTER = "local[*]"
_ERROR_LINE = re.compile(r"^[A-Za-z_.]*(Error|Exception): ")
COLLECT_ROWS = 32_768
"""Result rows the driver reads back as one chunk."""
MIN_PARTITION_BYTES = 1 << 20
_KIND = "_kind"
_KEY = "_key"
_VALUE = "_value"
_TEXT = "_text_"
_SCORERS: dict[tuple[str, str], Scorer] = {}
"""One verified, loaded model per executor Python worker, by artifact hash and options."""


_P = ParamSpec("_P")


def _spark_errors(job: Callable[_P, Iterator[Scored]]) -> Callable[_P, Iterator[Scored]]:
    """``job``, with a missing pyspark and a failed Spark job as `BatchError`s naming the cause."""

    @functools.wraps(job)
    def reported(*args: _P.args, **kwargs: _P.kwargs) -> Iterator[Scored]:
        try:
            from py4j.protocol import Py4JError
            from pyspark.errors import PySparkException
        except ImportError:
            raise BatchError(
                "--engine spark needs pyspark: install the project's spark extra "
                "(pip install -e '.[spark]') and Java 17 or 21"
            ) from None
        try:
            yield from job(*args, **kwargs)
        except (Py4JError, PySparkException) as exc:
            raise BatchError(f"the Spark job failed: {_cause(exc)}") from None

    return reported


def _cause(exc: BaseException) -> str:
    """The most telling line of a Spark failure: the executor's Python error, else the first."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_LINE.match(line):
            return line
    return lines[0] if lines else type(exc).__name__


@_spark_errors
def scored_chunks(
    source: Source,
    manifest: Manifest,
    models_dir: Path,
    id_column: str | None,
    store_keys: bool,
    master: str | None,
    scratch: Path,
    runtime: str = "native",
) -> Iterator[Scored]:
    """Score ``source`` on Spark (``master``, default ``local[*]``), chunk by chunk, in
    the driver's ``runtime`` (``native`` or ``onnx``: the model the local engine uses); the
    executors' results pass through a temporary folder in ``scratch``. A job that fails
    is a `BatchError` naming the first Python or Java error."""
    from pyspark.sql import SparkSession

    # The executors' interpreter: the driver's pyspark sends PYSPARK_PYTHON with every
    # function (spark.pyspark.python only reaches spark-submit). Default: this one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(master or DEFAULT_MASTER)
        .appName(f"{manifest.name}-{manifest.version}-predict-batch")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        spark.sparkContext.setLogLevel("ERROR")
        spark.sparkContext.addFile(str(models_dir / manifest.artifact.file))
        if manifest.compiled is not None:  # the registry checks every artifact listed
            spark.sparkContext.addFile(str(models_dir / manifest.compiled.file))
        manifest_file = manifest_path(models_dir, manifest.name, manifest.version)
        spark.sparkContext.addFile(str(manifest_file))
        # Partitions of about a file's size over twice the cores, so that every core has
        # work even for a file under Spark's default split (128 MiB).
        size = source.path.stat().st_size
        cores = spark.sparkContext.defaultParallelism
        split = max(MIN_PARTITION_BYTES, -(-size // (2 * cores)))
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(split))
        reader = spark.read
        path = str(source.path.resolve())
        # CSV: every column as text (Spark's default without inferSchema), empty cells null
        frame = reader.csv(path, header=True) if source.is_csv else reader.parquet(path)
        frame = frame.select(*source.columns)
        score = functools.partial(
            _score_partitions,
            manifest.name,
            manifest.version,
            manifest.artifact.sha256,
            manifest_file.name,
            id_column,
            store_keys,
            runtime,
        )
        result = frame.mapInPandas(score, schema=_result_schema(frame.schema, manifest, id_column))
        # The executors write their results (a scratch folder beside the output: on a
        # cluster, a file system they share with the driver); the driver reads the parts
        # back in partition order, that is, input order, in bounded batches.
        parts = scratch / f".{source.path.name}.{os.getpid()}.spark"
        try:
            result.write.parquet(str(parts))
            import pyarrow.parquet as pq

            for part in sorted(parts.glob("part-*.parquet")):
                with pq.ParquetFile(part) as file:
                    for batch in file.iter_batches(COLLECT_ROWS):
                        yield _split(batch.to_pandas(), manifest, id_column)
        finally:
            shutil.rmtree(parts, ignore_errors=True)
    finally:
        spark.stop()


def _score_partitions(
    name: str,
    version: str,
    sha256: str,
    manifest_file: str,
    id_column: str | None,
    store_keys: bool,
    runtime: str,
    frames: Iterator[pd.DataFrame],
) -> Iterator[pd.DataFrame]:
    """On an executor: each partition's chunks, scored, as one frame of tagged rows."""
    options = f"{id_column}:{store_keys}:{runtime}"
    scorer = _SCORERS.get((sha256, options))
    if scorer is None:
        scorer = _verified_scorer(
            name, version, sha256, manifest_file, id_column, store_keys, runtime
        )
        _SCORERS[(sha256, options)] = scorer
    names = list(scorer.feature_names)
    for frame in frames:
        scored = scorer.score(frame)
        output = scored.output.assign(**{_KIND: "output"})
        rejects = scored.rejects.rename(columns={n: _TEXT + n for n in names})
        rejects = rejects.assign(**{_KIND: "reject"})
        stored = pd.DataFrame(scored.stored, columns=[_KEY, _VALUE]).assign(**{_KIND: "stored"})
        tagged = pd.concat([output, rejects, stored], ignore_index=True)
        # Text as Python objects, None where missing: Spark's Arrow conversion takes no
        # pandas 3 string arrays, and a text column that concat made all-NaN floats (no
        # rejects in this chunk) would become one.
        text = [*(_TEXT + name for name in names), REASON, _KEY, _KIND, MODEL_NAME, MODEL_VERSION]
        text += [name for name in tagged.columns if pd.api.types.is_string_dtype(tagged[name])]
        for name in dict.fromkeys(text):
            column = tagged[name].astype(object)
            tagged[name] = column.where(column.notna(), None)
        yield tagged


def _verified_scorer(
    name: str,
    version: str,
    sha256: str,
    manifest_file: str,
    id_column: str | None,
    store_keys: bool,
    runtime: str,
) -> Scorer:
    from pyspark import SparkFiles

    directory = Path(SparkFiles.get(manifest_file)).parent
    # The registry's gates: the manifest names this version, the artifact's SHA-256
    # matches it, its recorded thresholds hold. Then: is it the manifest the driver sent?
    served: Runtime = "onnx" if runtime == "onnx" else "native"
    loaded: LoadedModel[Model] = load_served(directory, name, version, Predictor, None, served)
    if loaded.manifest.artifact.sha256 != sha256:
        raise IntegrityError(
            f"{directory / manifest_file}: names artifact SHA-256 "
            f"{loaded.manifest.artifact.sha256}, the driver verified {sha256}; refusing it"
        )
    return Scorer(loaded.model, loaded.manifest, id_column, store_keys)


def _result_schema(input_schema: Any, manifest: Manifest, id_column: str | None) -> Any:
    """Output, reject and store rows in one schema, told apart by ``_kind``."""
    from pyspark.sql import types as T

    fields = []
    if id_column:
        fields.append(T.StructField(id_column, input_schema[id_column].dataType))
    fields += [T.StructField(_TEXT + name, T.StringType()) for name in manifest.input_schema.names]
    output = manifest.output
    if output.task != "classification":
        prediction: Any = T.DoubleType()
    elif _integer_classes(output.classes):
        prediction = T.LongType()
    else:
        prediction = T.StringType()
    fields.append(T.StructField("prediction", prediction))
    fields += [
        T.StructField(f"probability_{label}", T.DoubleType())
        for label in (output.classes if output.task == "classification" else [])
    ]
    fields += [
        T.StructField("model_name", T.StringType()),
        T.StructField("model_version", T.StringType()),
        T.StructField(REASON, T.StringType()),
        T.StructField(_KEY, T.StringType()),
        T.StructField(_VALUE, T.BinaryType()),
        T.StructField(_KIND, T.StringType()),
    ]
    return T.StructType(fields)


def _split(frame: pd.DataFrame, manifest: Manifest, id_column: str | None) -> Scored:
    """The driver's side of `_score_partitions`: tagged rows back into a `Scored`."""
    ids = [id_column] if id_column else []
    names = list(manifest.input_schema.names)
    kind = frame[_KIND]
    output_columns = [
        *ids,
        "prediction",
        *(f"probability_{label}" for label in manifest.output.classes),
        "model_name",
        "model_version",
    ]
    if manifest.output.task != "classification":
        output_columns = [c for c in output_columns if not c.startswith("probability_")]
    output = frame.loc[kind == "output", output_columns].reset_index(drop=True)
    rejects = frame.loc[kind == "reject", [*ids, *(_TEXT + n for n in names), REASON]]
    rejects = rejects.rename(columns={_TEXT + n: n for n in names}).reset_index(drop=True)
    stored = frame.loc[kind == "stored", [_KEY, _VALUE]]
    entries = [(str(key), bytes(value)) for key, value in stored.itertuples(index=False)]
    return Scored(output=output, rejects=rejects, stored=entries)


def _integer_classes(classes: list[Any]) -> bool:
    return bool(classes) and all(
        isinstance(label, int) and not isinstance(label, bool) for label in classes
    )
