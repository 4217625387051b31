"""The input file, read in bounded chunks with pyarrow, so memory does not grow with it.

Only the columns scoring needs are read (the id column and the model's features), by
name; a file that lacks one is refused before anything is written. CSV cells are read
as text (an empty cell is missing) and typed by `score`, row by row, so a bad value
rejects its row, not the file; Parquet columns keep the types the file gives them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_BLOCK_BYTES = 1 << 20
"""Bytes of CSV text per chunk (about 35,000 rows of the example): small enough that peak
memory stays flat whatever the file size, large enough that per-chunk costs vanish."""
PARQUET_BATCH_ROWS = 32_768


class BatchError(ValueError):
    """A batch that cannot run: the message names the file or option and the fix."""


@dataclass(frozen=True)
class Source:
    """An input file and the columns read from it, in order."""

    path: Path
    columns: tuple[str, ...]
    id_type: pa.DataType | None
    """The id column's type (text in a CSV file); None without an id column."""

    @property
    def is_csv(self) -> bool:
        return self.path.suffix.lower() in CSV_SUFFIXES


def open_source(path: Path, features: Sequence[str], id_column: str | None) -> Source:
    """Check that ``path`` is readable and holds every column needed; `BatchError` if not."""
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise BatchError(
            f"{path}: unsupported input type {suffix or '(none)'}; use CSV "
            f"({', '.join(CSV_SUFFIXES)}) or Parquet ({', '.join(PARQUET_SUFFIXES)})"
        )
    if not path.is_file():
        raise BatchError(f"{path}: no such input file")
    header, types = _header(path)
    wanted = ([id_column] if id_column else []) + list(features)
    missing = [name for name in wanted if name not in header]
    if missing:
        which = ", ".join(repr(name) for name in missing)
        hint = "the --id-column" if missing == [id_column] else "every feature of the model"
        raise BatchError(
            f"{path}: no column {which} (the file has {len(header)}: "
            f"{', '.join(header[:8])}{' ...' if len(header) > 8 else ''}); it needs {hint}"
        )
    id_type = None
    if id_column:
        id_type = pa.string() if suffix in CSV_SUFFIXES else types[header.index(id_column)]
    return Source(path=path, columns=tuple(dict.fromkeys(wanted)), id_type=id_type)


def chunks(source: Source) -> Iterator[pd.DataFrame]:
    """The needed columns, chunk by chunk (CSV as text, None where a cell is empty)."""
    try:
        if source.is_csv:
            yield from _csv_chunks(source)
        else:
            import pyarrow.parquet as pq

            with pq.ParquetFile(source.path) as file:
                for batch in file.iter_batches(PARQUET_BATCH_ROWS, columns=[*source.columns]):
                    yield batch.to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise BatchError(f"{source.path}: unreadable: {_one_line(exc)}") from None


def _csv_chunks(source: Source) -> Iterator[pd.DataFrame]:
    from pyarrow import csv as pacsv

    reader = pacsv.open_csv(
        source.path,
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            include_columns=[*source.columns],
            column_types=dict.fromkeys(source.columns, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    for batch in reader:
        yield batch.to_pandas()


def _header(path: Path) -> tuple[list[str], list[pa.DataType]]:
    """The file's column names (and, for Parquet, types); `BatchError` if it has none."""
    try:
        if path.suffix.lower() in CSV_SUFFIXES:
            with path.open(newline="", encoding="utf-8") as file:
                first = next(csv.reader(file), None)
                if first is None:
                    raise BatchError(f"{path}: empty file; it needs a header row and data rows")
                if next(csv.reader(file), None) is None:
                    raise BatchError(f"{path}: no rows under the header; add data rows")
            return first, []
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        if pq.read_metadata(path).num_rows == 0:
            raise BatchError(f"{path}: no rows; add data rows")
        return schema.names, list(schema.types)
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BatchError(f"{path}: unreadable: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
