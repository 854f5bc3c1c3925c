"""Curated Parquet and segment membership snapshots read from the curated bucket (the measurement ports): every
object under `<entity>/dt=YYYY-MM-DD/` and `segment_memberships/dt=YYYY-MM-DD/run=<id>/`. Batch functions only
(pyarrow)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cdp.adapters.clients import client
from cdp.adapters.object_store import read_small_object
from cdp.measure.ports import SegmentRun
from cdp.observability import logger

SNAPSHOT_PREFIX = "segment_memberships/"
MEMBER_SCHEMA = pa.schema([("segment", pa.string()), ("profile_id", pa.string())])
_PARTITION = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")
_RUN = re.compile(r"^segment_memberships/dt=(\d{4}-\d{2}-\d{2})/run=([^/]+)/")


def _objects(bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _parquet(bucket: str, key: str, schema: pa.Schema) -> pa.Table | None:
    """The object's rows in `schema` (a missing column as nulls); None when it is gone, not Parquet, or holds a
    column that does not convert (logged, the object left in place)."""
    body = read_small_object(bucket, key)
    if body is None:  # deleted between the listing and the read (an erasure rewrite): nothing to count
        return None
    try:
        stored = pq.ParquetFile(io.BytesIO(body))
    except (pa.ArrowInvalid, OSError):  # not Parquet (a stray or truncated object): left in place, counted out
        logger.warning("unreadable curated object skipped", extra={"bucket": bucket, "key": key})
        return None
    names = stored.schema_arrow.names
    table = stored.read(columns=[name for name in schema.names if name in names])
    try:
        return pa.table({
            field.name: table.column(field.name).cast(field.type) if field.name in names
            else pa.nulls(table.num_rows, field.type) for field in schema
        }, schema=schema)  # fmt: skip
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        logger.warning("curated object with unconvertible columns skipped", extra={"bucket": bucket, "key": key})
        return None


class CuratedParquet:
    """The `CuratedTables` port over one curated bucket."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def read(self, entity: str, schema: pa.Schema, since: date | None = None) -> pa.Table:
        tables = []
        for summary in _objects(self.bucket, f"{entity}/dt="):
            partition = _PARTITION.search("/" + summary["Key"])
            if not summary["Key"].endswith(".parquet") or partition is None:
                continue
            if since is not None and date.fromisoformat(partition[1]) < since:
                continue
            table = _parquet(self.bucket, summary["Key"], schema)
            if table is not None:
                tables.append(table)
        return pa.concat_tables(tables) if tables else schema.empty_table()


class SnapshotStore:
    """The `SegmentSnapshots` port: runs listed from their object keys, the run's time from latest.json when it is
    the latest run, else from its object's time."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._written: dict[str, datetime] = {}

    def runs(self) -> list[SegmentRun]:
        found: dict[str, SegmentRun] = {}
        for summary in _objects(self.bucket, SNAPSHOT_PREFIX + "dt="):
            match = _RUN.match(summary["Key"])
            if match is None or not summary["Key"].endswith(".parquet"):
                continue
            run = SegmentRun(run_id=match[2], day=date.fromisoformat(match[1]), key=match[0])
            found[run.key] = run
            self._written[run.key] = max(self._written.get(run.key, summary["LastModified"]), summary["LastModified"])
        return sorted(found.values(), key=lambda run: (run.day, self._written[run.key], run.run_id))

    def members(self, run: SegmentRun) -> pa.Table:
        read = (_parquet(self.bucket, summary["Key"], MEMBER_SCHEMA)
                for summary in _objects(self.bucket, run.key) if summary["Key"].endswith(".parquet"))  # fmt: skip
        parts = [table for table in read if table is not None]
        return pa.concat_tables(parts) if parts else MEMBER_SCHEMA.empty_table()

    def computed_at(self, run: SegmentRun) -> datetime:
        latest = self.latest()
        if latest.get("run_id") == run.run_id and latest.get("computed_at"):
            return datetime.fromisoformat(str(latest["computed_at"])).astimezone(UTC)
        written = self._written.get(run.key)
        return written.astimezone(UTC) if written else datetime.combine(run.day, datetime.max.time(), UTC)

    def latest(self) -> dict[str, Any]:
        """`segment_memberships/latest.json` (run_id, key, computed_at, sizes, and personas where given), or {}."""
        body = read_small_object(self.bucket, SNAPSHOT_PREFIX + "latest.json")
        try:
            document = json.loads(body) if body else {}
        except json.JSONDecodeError:
            return {}
        return document if isinstance(document, dict) else {}
