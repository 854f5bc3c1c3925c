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

from datetime import date
from typing import Any

import pyarrow as pa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from cdp.adapters import object_store
from cdp.adapters.event_bus import publish
from cdp.adapters.file_ledger import FileLedger
from cdp.adapters.profile_store import ProfileStore
from cdp.adapters.work_queue import send_json
from cdp.clean.entities import ENTITIES
from cdp.ingest.curated import curated_key
from cdp.observability import logger
from cdp.profiles.apply import ProfileOutcome
from cdp.profiles.record_appliers import apply_entity_records
from cdp.settings import CoreSettings


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


def queue_for_profiles(queue_url: str, batch: CuratedBatch) -> None:
    send_json(queue_url, batch.model_dump(mode="json"))


def curated_rows(batch: CuratedBatch) -> list[dict[str, Any]]:
    """The batch's rows as the file function accepted them, in file order (objects since deleted count as empty)."""
    tables = []
    for key in batch.curated_keys():
        table = object_store.read_parquet(batch.curated_bucket, key)
        if table is None:
            logger.warning("curated object of a queued batch is gone", extra={"key": key})
        elif table.num_rows:
            tables.append(table)
    if not tables:
        return []
    rows = pa.concat_tables(tables).sort_by("source_line").drop_columns(["source_key", "source_version"])  # lineage
    return rows.to_pylist()  # type: ignore[no-any-return]


def apply_curated_batch(batch: CuratedBatch, settings: CoreSettings) -> tuple[ProfileOutcome, int]:
    """Apply one queued batch to profiles, publish its domain events and mark it applied on the file ledger;
    returns the outcome and how many rows were dropped because their person has been erased since."""
    store = ProfileStore(settings.profiles_table, settings.ledger_table)
    outcome, erased = apply_entity_records(
        store, batch.entity, curated_rows(batch), batch.source_uri, batch.ingested_at, settings.backfill_horizon
    )
    publish(settings.event_bus_name, outcome.events)
    FileLedger(settings.ledger_table).record_profile_batch(
        batch.source.bucket, batch.source.key, batch.source.version, batch.batch
    )
    return outcome, erased
