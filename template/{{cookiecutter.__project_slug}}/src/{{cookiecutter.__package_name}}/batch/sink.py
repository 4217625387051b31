"""The output and rejects files: Parquet or CSV by suffix, written whole or not at all.

Both are written chunk by chunk to hidden temporary files beside their final names and
renamed into place only when every chunk is in (rejects first, the output last); a run
that fails leaves neither temporary file behind, and an existing file is replaced only
when the caller says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import pyarrow as pa

from .source import CSV_SUFFIXES, PARQUET_SUFFIXES, BatchError

REJECTS_INFIX = ".rejects"


def rejects_path(output: Path) -> Path:
    """``scores.parquet`` -> ``scores.rejects.parquet``, beside it."""
    return output.with_name(output.stem + REJECTS_INFIX + output.suffix)


def check_output(output: Path, input_path: Path, overwrite: bool) -> None:
    """Refuse an output of unknown type, in a missing folder, the input itself, or one
    that exists (with its rejects file) unless ``overwrite``."""
    suffix = output.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise BatchError(
            f"{output}: unsupported output type {suffix or '(none)'}; end it in .parquet or .csv"
        )
    if not output.parent.is_dir():
        raise BatchError(f"{output}: no folder {output.parent}; create it first")
    if output.resolve() == input_path.resolve():
        raise BatchError(f"{output}: is the input file; write the output elsewhere")
    if not overwrite:
        for path in (output, rejects_path(output)):
            if path.exists():
                raise BatchError(f"{path}: exists; pass --overwrite to replace it")


class TableFile:
    """One table written chunk by chunk to a temporary file, renamed to ``path`` on `commit`."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.rows = 0
        self._schema = schema
        self._staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        if path.suffix.lower() in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            self._writer: Any = pq.ParquetWriter(self._staged, schema)
        else:
            from pyarrow import csv as pacsv

            self._writer = pacsv.CSVWriter(self._staged, schema)

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        self._writer.write_table(table)
        self.rows += len(frame)

    def commit(self) -> None:
        self._writer.close()
        os.replace(self._staged, self.path)

    def discard(self) -> None:
        try:
            self._writer.close()
        finally:
            self._staged.unlink(missing_ok=True)


class Sink:
    """The output and the rejects file of one run, committed together or discarded."""

    def __init__(self, output: Path, output_schema: pa.Schema, rejects_schema: pa.Schema) -> None:
        self.output = TableFile(output, output_schema)
        try:
            self.rejects = TableFile(rejects_path(output), rejects_schema)
        except BaseException:
            self.output.discard()
            raise

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.rejects.commit()
            self.output.commit()
        else:
            self.rejects.discard()
            self.output.discard()
