"""Reads curated Parquet from S3 for the batch functions: an entity's `<entity>/dt=YYYY-MM-DD/` objects from a day
on, only the named columns (a column an older object lacks is read as missing).

Columns of few distinct values that segment conditions test (event names, order status and category) are read
dictionary-encoded, as the Parquet writer stores them (its dictionary pages), and given one dictionary across objects:
a test then compares the few distinct values once and the rows by their integer codes. Every other column is text."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cdp.adapters.clients import client
from cdp.segments.ports import BehaviourRequest

PARTITION = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")
TIMESTAMP = pa.timestamp("us", tz="UTC")
LABELS = pa.dictionary(pa.int32(), pa.string())
PARALLEL_OBJECTS = 4
COLUMN_TYPES = {"ordered_at": TIMESTAMP, "occurred_at": TIMESTAMP, "quantity": pa.int64(), "unit_price": pa.float64(),
                "line_amount": pa.float64(), "event": LABELS, "status": LABELS, "category": LABELS}  # fmt: skip


def _type(name: str) -> pa.DataType:
    return COLUMN_TYPES.get(name, pa.string())


def _typed(column: pa.ChunkedArray, wanted: pa.DataType) -> pa.ChunkedArray:
    """`column` as `wanted`; labels stored as anything but text (numbers, say) become text first."""
    if wanted == LABELS and not pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    return column.cast(wanted)


class CuratedParquet:
    """The curated bucket's order lines and events (BehaviourSource)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def _keys(self, entity: str, since: datetime | None) -> Iterator[str]:
        first_day = since.date().isoformat() if since else ""
        pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{entity}/")
        for page in pages:
            for summary in page.get("Contents", []):
                key = summary["Key"]
                day = PARTITION.search(key)
                if key.endswith(".parquet") and day and day.group(1) >= first_day:
                    yield key

    def read(self, entity: str, request: BehaviourRequest) -> pa.Table:
        """The request's columns of the entity's objects from its first day on, PARALLEL_OBJECTS fetched and decoded
        at a time (S3 answers each GET after tens of milliseconds; decoding runs without the GIL)."""
        s3 = client("s3")
        with ThreadPoolExecutor(PARALLEL_OBJECTS) as pool:
            tables = list(pool.map(lambda key: self._object(s3, key, request.columns), self._keys(entity, request.since)))
        if not tables:
            return pa.table({name: pa.array([], _type(name)) for name in request.columns})
        return pa.concat_tables(tables).unify_dictionaries()

    def _object(self, s3: Any, key: str, columns: list[str]) -> pa.Table:
        """One object's named columns, typed (a column it lacks: all missing)."""
        body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        stored = pq.ParquetFile(io.BytesIO(body))
        present = [name for name in columns if name in stored.schema_arrow.names]
        labels = [name for name in present if _type(name) == LABELS]
        table = pq.ParquetFile(io.BytesIO(body), metadata=stored.metadata, read_dictionary=labels).read(columns=present)
        for name in columns:
            if name not in present:
                table = table.append_column(name, pa.nulls(table.num_rows, _type(name)))
        return pa.table([_typed(table[name], _type(name)) for name in columns], names=columns)

    def order_lines(self, request: BehaviourRequest) -> pa.Table:
        return self.read("orders", request)

    def events(self, request: BehaviourRequest) -> pa.Table:
        return self.read("events", request)
