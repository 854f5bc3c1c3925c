"""Accepted rows reach profiles through a queue: one message per curated batch, applied by its own function.

The file functions read, clean, dedupe and write each batch's accepted rows as curated Parquet, then queue a
`CuratedBatch` naming those objects; ApplyProfileBatchFunction (an SQS event source, BatchSize 1) reads them back
and applies them to profiles. Why: a 1 GB file's own work (about 260 batches of 33,000 rows) fits one Lambda, but
its profile updates (about 0.7 DynamoDB requests per order line) do not; queued, they run on as many consumers as
the event source's MaximumConcurrency allows, and the file function finishes in time.

A redelivered or re-queued batch changes nothing: each record is applied once (its ledger key is its natural key),
and the file ledger's set of applied batches ignores a number it holds. Rows of a person erased since the batch
was curated are dropped before applying (erasure also rewrites the curated objects themselves).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from cdp.clean.entities import ENTITIES
from cdp.ingest.curated import curated_key
from cdp.ingest.ports import CuratedBatchPorts, ObjectStore
from cdp.observability import logger
from cdp.records.appliers import apply_entity_records
from cdp.records.apply import ProfileOutcome


class SourceObject(BaseModel):
    """The raw object version the batch was read from."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version: str = Field(min_length=1, max_length=1024)


class CuratedBatch(BaseModel):
    """One batch of a file's accepted rows, as curated Parquet objects (one per date partition)."""

    model_config = ConfigDict(extra="forbid")

    source: SourceObject
    entity: str
    curated_bucket: str = Field(min_length=3, max_length=63)
    file_id: str = Field(pattern=r"^[0-9a-f]{24}$")
    batch: int = Field(ge=0)
    days: list[date] = Field(min_length=1, max_length=20_000)
    ingested_at: AwareDatetime

    @field_validator("entity")
    @classmethod
    def _known_entity(cls, entity: str) -> str:
        if entity not in ENTITIES:
            raise ValueError(f"unknown entity {entity!r}")
        return entity

    def curated_keys(self) -> list[str]:
        return [curated_key(self.entity, day, self.file_id, self.batch) for day in self.days]

    @property
    def source_uri(self) -> str:
        return f"s3://{self.source.bucket}/{self.source.key}"


def curated_rows(objects: ObjectStore, batch: CuratedBatch) -> list[dict[str, Any]]:
    """The batch's rows as the file function accepted them, in file order (objects since deleted count as empty)."""
    tables = []
    for key in batch.curated_keys():
        table = objects.read_parquet(batch.curated_bucket, key)
        if table is None:
            logger.warning("curated object of a queued batch is gone", extra={"key": key})
        elif table.num_rows:
            tables.append(table)
    if not tables:
        return []
    rows = pa.concat_tables(tables).sort_by("source_line").drop_columns(["source_key", "source_version"])  # lineage
    return rows.to_pylist()  # type: ignore[no-any-return]


def apply_curated_batch(
    ports: CuratedBatchPorts, batch: CuratedBatch, backfill_horizon: timedelta
) -> tuple[ProfileOutcome, int]:
    """Apply one queued batch to profiles, publish its domain events and mark it applied on the file ledger;
    returns the outcome and how many rows were dropped because their person has been erased since."""
    rows = curated_rows(ports.objects, batch)
    outcome, erased = apply_entity_records(
        ports.profiles, batch.entity, rows, batch.source_uri, batch.ingested_at, backfill_horizon, ports.salt,
        ports.live_segments,
    )
    ports.publish(outcome.events)
    ports.files.record_profile_batch(
        batch.source.bucket, batch.source.key, batch.source.version, batch.batch
    )
    return outcome, erased
