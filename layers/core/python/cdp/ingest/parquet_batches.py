"""Reads Parquet row group by row group (`ParquetFile.iter_batches`), every column cast to string.

Parquet keeps its index at the end of the file, so it needs a seekable source: a stream that is not seekable
(an S3 body, a gzip member) is first copied to a temporary file on local disk (Lambda's /tmp), block by block,
never into memory. Scalars become their canonical text (pyarrow's cast), nested values JSON text. `lines` holds
each row's 1-based position in the file, Parquet having no lines.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdp.clean.table import UnreadableFile
from cdp.ingest.raw_rows import RawRows
from cdp.ingest.sniff import PARQUET_MAGIC


def _as_string(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if pa.types.is_nested(column.type):
        values = [
            None if value is None else json.dumps(value, ensure_ascii=False, default=str)
            for value in column.to_pylist()
        ]
        return pa.array(values, pa.string())
    if (
        pa.types.is_binary(column.type)
        or pa.types.is_large_binary(column.type)
        or pa.types.is_fixed_size_binary(column.type)
    ):
        return pa.array(
            [None if value is None else value.decode("utf-8", "backslashreplace") for value in column.to_pylist()],
            pa.string(),
        )
    return pc.cast(column, pa.string())


def _spooled(blocks: Iterable[bytes]) -> IO[bytes]:
    spool = tempfile.TemporaryFile()
    for block in blocks:
        spool.write(block)
    spool.seek(0)
    return spool


def read_parquet_batches(source: IO[bytes] | BinaryIO, batch_rows: int) -> Iterator[RawRows]:
    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as error:
        raise UnreadableFile("not_parquet", str(error)) from error
    names = parquet.schema_arrow.names
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UnreadableFile("duplicate_columns", ", ".join(repeated))
    if parquet.metadata.num_rows == 0:
        raise UnreadableFile("header_only", "a Parquet file without rows")
    position = 1
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows, use_threads=False):
            table = pa.table({name: _as_string(batch.column(name)) for name in names})
            lines = pa.array(range(position, position + batch.num_rows), pa.int64())
            position += batch.num_rows
            yield RawRows(table=table, lines=lines, malformed=[])
    except (pa.ArrowInvalid, OSError) as error:
        raise UnreadableFile("corrupt_parquet", f"row {position}: {error}") from error


def open_parquet(head: bytes, blocks: Iterable[bytes], stream: BinaryIO, compressed: bool) -> Any:
    """A seekable source for the Parquet content: the stream itself when it can seek, else a local copy."""
    if not head.startswith(PARQUET_MAGIC):
        raise UnreadableFile("not_parquet", "no PAR1 magic bytes at the start")
    if compressed:
        return _spooled(blocks)
    if getattr(stream, "seekable", lambda: False)():
        stream.seek(0)
        return stream
    return _spooled(blocks)
