"""Ingests one dropped file end to end; every row is accepted or quarantined with a reason, never lost."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from cdp.adapters import object_store
from cdp.adapters.event_bus import publish
from cdp.adapters.file_ledger import FileLedger
from cdp.adapters.profile_store import ProfileStore
from cdp.clean.entities import ENTITIES, EntitySpec
from cdp.clean.table import LINE_COLUMN, Rejection, UnreadableFile, clean_table
from cdp.ingest.file_reader import read_csv_rows
from cdp.ingest.mappings import apply_mapping, mapping_for
from cdp.observability import logger
from cdp.profiles.changes import CustomerChange, OrderChange
from cdp.profiles.upsert import ProfileOutcome, apply_orders, upsert_customers
from cdp.settings import IngestSettings


@dataclass
class FileReport:
    """The accounting of one file: rows_in == rows_accepted + rows_quarantined, always."""

    key: str
    entity: str | None
    rows_in: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    file_error: str | None = None
    profiles_created: int = 0
    profiles_updated: int = 0
    orders_applied: int = 0
    duplicate_delivery: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DroppedFile:
    """One object version as an S3 notification names it (version_id is None in unversioned buckets)."""

    bucket: str
    key: str
    version_id: str | None
    etag: str

    @property
    def version(self) -> str:
        """What identifies this content: the version id, else the ETag."""
        return self.version_id or self.etag


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


def _quarantine_rows(settings: IngestSettings, dropped: DroppedFile, entity: str, rejected: list[Rejection]) -> None:
    records = [
        {
            "source_bucket": dropped.bucket,
            "source_key": dropped.key,
            "source_version": dropped.version,
            "line": rejection.line,
            "reason": rejection.reason,
            "row": rejection.row,
        }
        for rejection in rejected
    ]
    object_store.write_json_lines(settings.quarantine_bucket, f"rows/{entity}/{_safe_name(dropped.key)}.jsonl", records)


def _quarantine_whole_file(settings: IngestSettings, dropped: DroppedFile, data: bytes, reason: str) -> None:
    object_store.write_bytes(
        settings.quarantine_bucket,
        f"files/{_safe_name(dropped.key)}",
        data,
        "application/octet-stream",
        metadata={"reason": reason, "source-key": dropped.key[:1000], "source-version": dropped.version},
    )


def _customer_changes(accepted: pa.Table, source: str, now: datetime) -> list[CustomerChange]:
    return [
        CustomerChange(
            identifiers={"customer_id": row["customer_id"], "email": row["email"], "phone": row["phone"]},
            attributes={name: row[name] for name in ("first_name", "last_name", "email", "phone", "country", "city")},
            consents={
                channel: row[f"{channel}_consent"]
                for channel in ("email", "sms")
                if row[f"{channel}_consent"] is not None
            },
            consent_source=source,
            observed_at=now,
            signed_up_at=row["signup_at"],
        )
        for row in accepted.to_pylist()
    ]


def _order_changes(accepted: pa.Table, source: str) -> list[tuple[str, OrderChange]]:
    return [
        (
            row["customer_id"],
            OrderChange(
                order_id=row["order_id"],
                ordered_at=row["ordered_at"],
                currency=row["currency"],
                amount=Decimal(row["line_amount"] or 0),
                items=row["quantity"] or 0,
                category=row["category"],
                status=row["status"],
                source=source,
            ),
        )
        for row in accepted.to_pylist()
        if row["customer_id"] is not None  # guest lines stay in curated Parquet only
    ]


def _apply_to_profiles(
    spec: EntitySpec, accepted: pa.Table, store: ProfileStore, source: str, now: datetime, backfill_horizon: timedelta
) -> ProfileOutcome:
    if spec.name == "customers":
        return upsert_customers(store, _customer_changes(accepted, source, now), now, backfill_horizon)
    if spec.name == "orders":
        return apply_orders(store, _order_changes(accepted, source), now)
    return ProfileOutcome()


def ingest_dropped_file(dropped: DroppedFile, settings: IngestSettings, now: datetime) -> FileReport:
    """Read, clean, quarantine, land curated Parquet and update profiles for one object version."""
    ledger = FileLedger(settings.ledger_table)
    previous = ledger.report_of(dropped.bucket, dropped.key, dropped.version)
    if previous is not None:
        logger.info("file already ingested", extra={"key": dropped.key})
        return FileReport(**{**previous, "duplicate_delivery": True})

    report = FileReport(key=dropped.key, entity=None)
    data = object_store.read_object(dropped.bucket, dropped.key, dropped.version_id)
    try:
        mapping = mapping_for(dropped.key, None)
        spec = ENTITIES[mapping.entity]
        report.entity = spec.name
        raw = read_csv_rows(data)
    except UnreadableFile as unreadable:
        _quarantine_whole_file(settings, dropped, data, unreadable.reason)
        report.file_error = unreadable.reason
        logger.warning("file quarantined whole", extra={"key": dropped.key, "reason": unreadable.reason})
    else:
        try:
            result = clean_table(spec, apply_mapping(mapping, raw.table), raw.lines)
        except UnreadableFile as unreadable:
            _quarantine_whole_file(settings, dropped, data, unreadable.reason)
            report.rows_in = report.rows_quarantined = raw.rows_in
            report.quarantine_reasons = {unreadable.reason: raw.rows_in}
            report.file_error = unreadable.reason
        else:
            rejected = raw.malformed + result.rejected
            report.rows_in = raw.rows_in
            report.rows_accepted = result.accepted.num_rows
            report.rows_quarantined = len(rejected)
            report.quarantine_reasons = dict(Counter(rejection.reason for rejection in rejected))
            if rejected:
                _quarantine_rows(settings, dropped, spec.name, rejected)
            if result.accepted.num_rows:
                curated_key = (
                    f"{spec.name}/ingest_date={now:%Y-%m-%d}/{_safe_name(dropped.key)}.{dropped.version}.parquet"
                )
                object_store.write_parquet(
                    settings.curated_bucket, curated_key, result.accepted.drop_columns([LINE_COLUMN])
                )
                source = f"s3://{dropped.bucket}/{dropped.key}"
                outcome = _apply_to_profiles(
                    spec,
                    result.accepted,
                    ProfileStore(settings.profiles_table, settings.ledger_table),
                    source,
                    now,
                    settings.backfill_horizon,
                )
                report.profiles_created, report.profiles_updated = outcome.created, outcome.updated
                report.orders_applied = outcome.orders_applied
                publish(settings.event_bus_name, outcome.events)
    assert report.rows_in == report.rows_accepted + report.rows_quarantined
    ledger.record(dropped.bucket, dropped.key, dropped.version, report.as_dict())
    logger.info("file ingested", extra=report.as_dict())
    return report
