"""Curated Parquet: accepted rows with lineage, partitioned by entity and the entity's date column
(`EntitySpec.date_column`).

Layout: `<entity>/dt=YYYY-MM-DD/<file id>-<batch number>.parquet`. Names are deterministic (file id from the object
version, batch number from its place in the file), so a retry after a crash overwrites rather than duplicates.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from cdp.clean.entities import EntitySpec
from cdp.ingest.ports import ObjectStore

PARALLEL_PUTS = 8  # a batch spread over many dates is many small objects
BATCHES_PER_RANGE = 100_000  # batch numbers of a split file: range index x this + batch index within the range


def file_id_of(bucket: str, key: str, version: str) -> str:
    """A short stable id of one object version, used in curated and quarantine object names."""
    return hashlib.sha256(f"{bucket}/{key}@{version}".encode()).hexdigest()[:24]


def batch_number(range_index: int, batch_index: int) -> int:
    return range_index * BATCHES_PER_RANGE + batch_index


def with_lineage(accepted: pa.Table, source_key: str, source_version: str) -> pa.Table:
    """Canonical columns, then source_key, source_version, source_line."""
    rows = accepted.num_rows
    line = accepted.column("source_line")
    table = accepted.drop_columns(["source_line"])
    table = table.append_column("source_key", pa.array([source_key] * rows, pa.string()))
    table = table.append_column("source_version", pa.array([source_version] * rows, pa.string()))
    return table.append_column("source_line", line.cast(pa.int64()))


def partition_dates(table: pa.Table, spec: EntitySpec, ingest_date: date) -> pa.ChunkedArray:
    """The UTC date of each row's date column (the ingest date where it is null, e.g. a customer without signup)."""
    column = table.column(spec.date_column)
    if pa.types.is_timestamp(column.type):  # timestamp[us, tz=UTC]: its UTC date
        column = pc.cast(column, pa.date32())
    return pc.fill_null(column, pa.scalar(ingest_date, pa.date32()))


def curated_key(entity: str, day: date, file_id: str, batch: int) -> str:
    return f"{entity}/dt={day:%Y-%m-%d}/{file_id}-{batch:06d}.parquet"


def write_curated(
    objects: ObjectStore,
    bucket: str, spec: EntitySpec, table: pa.Table, file_id: str, batch: int, ingest_date: date
) -> list[date]:
    """Write one batch's rows, one object per date partition (PARALLEL_PUTS at a time); returns those dates."""
    days = partition_dates(table, spec, ingest_date)
    order = pc.sort_indices(days)
    table, days = table.take(order), days.take(order)
    parts, offset = [], 0
    for count in pc.value_counts(days).to_pylist():  # sorted, so each date is one run of rows
        parts.append((count["values"], table.slice(offset, count["counts"])))
        offset += count["counts"]

    def put(part: tuple[date, pa.Table]) -> None:
        objects.write_parquet(bucket, curated_key(spec.name, part[0], file_id, batch), part[1])

    with ThreadPoolExecutor(PARALLEL_PUTS) as pool:
        list(pool.map(put, parts))
    return [day for day, _ in parts]
