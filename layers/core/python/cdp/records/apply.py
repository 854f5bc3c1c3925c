"""Applies one batch of canonical records of one entity to unified profiles, each source record exactly once.

Rows are resolved to profiles through identity resolution (guest rows, with no usable identifier, are counted and
skipped); each row becomes a ledger item (pk `RECORD#<entity>#<natural key>`), and per profile the new ledger items
and the profile's new aggregates are written in one transaction (the ProfileLedger port), with the live segment
changes the new state implies (cdp.segments.realtime) where they fit; the profiles of a batch are read together and
their transactions run concurrently (`apply_ledger_batch`).
Customer records carry attributes: each attribute keeps the value observed last (`attributes_observed_at`), so an
older file delivered late never overwrites newer data. Never imports pyarrow.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from cdp.canonical import IDENTIFIER_TYPES, NATURAL_KEYS, Identifier
from cdp.events import DomainEvent
from cdp.identity.resolution import resolve_batch
from cdp.loyalty.points import EARNING_ENTITIES, record_points
from cdp.loyalty.rules import load_rules
from cdp.profiles.aggregates import fold_records
from cdp.profiles.read import PERSON_ATTRIBUTES
from cdp.records.bus_events import tracking_events
from cdp.records.ports import LiveDecisions, ProfileLedger

PROFILE_EVENTS_SOURCE = "cdp.profiles"
CUSTOMER_ATTRIBUTES = ("email", "phone", "push_endpoint", *PERSON_ATTRIBUTES)
# A customer known only by the anonymous id a browser SDK gave them (identify before login) is keyed by that id.
ANONYMOUS_CUSTOMER_KEY = ("anonymous_id",)
RECORD_FIELDS = {
    "customers": ("customer_id", *CUSTOMER_ATTRIBUTES, "signup_at"),
    "orders": (
        "order_id",
        "line_id",
        "ordered_at",
        "currency",
        "sku",
        "category",
        "brand",
        "quantity",
        "line_amount",
        "status",
    ),
    "returns": ("return_id", "line_id", "order_id", "returned_at", "currency", "sku", "quantity", "amount"),
    "events": ("event_id", "event", "occurred_at"),
    "tickets": ("ticket_id", "updated_at", "status", "rating"),
    "feedback": ("response_id", "kind", "score", "responded_at"),
    "loyalty": ("entry_id", "occurred_at", "points", "tier", "expires_at"),
}


class UnknownEntity(ValueError):
    """An entity apply_records does not apply (consent statements go through cdp.records.consents)."""


class MalformedRecord(ValueError):
    """A row without its natural key: cleaning should have rejected it; nothing of the batch is applied."""


@dataclass
class ProfileOutcome:
    """What a batch did to profiles, the domain events it raises, and the new state of each profile it wrote."""

    created: int = 0
    updated: int = 0
    records_applied: int = 0
    guest_records: int = 0
    events: list[DomainEvent] = field(default_factory=list)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    decided: set[str] = field(default_factory=set)  # profiles whose live segments were written with their records

    def add(self, other: ProfileOutcome) -> None:
        """Count another batch's outcome into this one."""
        self.created += other.created
        self.updated += other.updated
        self.records_applied += other.records_applied
        self.guest_records += other.guest_records
        self.events += other.events
        self.profiles.update(other.profiles)
        self.decided |= other.decided


def _stored(value: Any) -> Any:
    """A canonical value as the ledger stores it: ISO text for datetimes and dates, Decimal for floats."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _event_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The product a cart event names (Segment e-commerce v2: product_id or sku, quantity)."""
    try:
        properties = json.loads(row.get("properties") or "{}")
    except ValueError:
        return {}
    if not isinstance(properties, dict):
        return {}
    sku = properties.get("sku") or properties.get("product_id")
    quantity = properties.get("quantity")
    fields: dict[str, Any] = {}
    if isinstance(sku, (str, int)) and str(sku):
        fields["sku"] = str(sku)[:200]
    if isinstance(quantity, int) and not isinstance(quantity, bool) and 0 < quantity < 10_000:
        fields["quantity"] = quantity
    return fields


def record_of(entity: str, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The canonical fields aggregates need from one row (nulls dropped)."""
    record = {name: _stored(row.get(name)) for name in RECORD_FIELDS[entity] if row.get(name) is not None}
    if entity == "events":
        record.update(_event_fields(row))
    if entity == "customers":
        record["observed_at"] = _stored(row.get("updated_at") or now)
    if entity in EARNING_ENTITIES:
        record.update(record_points(entity, record, load_rules()))
    return record


def natural_key_columns(entity: str, row: dict[str, Any]) -> tuple[str, ...]:
    """The columns that name this row: the entity's natural key, or an anonymous customer's anonymous id."""
    if entity == "customers" and not row.get("customer_id") and row.get("anonymous_id"):
        return ANONYMOUS_CUSTOMER_KEY
    return NATURAL_KEYS[entity]


def ledger_key(entity: str, row: dict[str, Any], record: dict[str, Any]) -> str:
    """`RECORD#<entity>#<natural key joined by #>`; a customer key also carries a digest of the record's content,
    so the same customer record replayed counts once while a changed one is applied."""
    columns = natural_key_columns(entity, row)
    parts = [str(_stored(row[name])) for name in columns]
    if columns == ANONYMOUS_CUSTOMER_KEY:
        parts.insert(0, "anonymous")
    if entity == "customers":
        content = {name: value for name, value in record.items() if name != "observed_at"}
        parts.append(hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16])
    return "#".join(["RECORD", entity, *parts])


def identifiers_of(row: dict[str, Any]) -> list[Identifier]:
    return [(name, str(row[name])) for name in IDENTIFIER_TYPES if row.get(name)]


def attribute_changes(item: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Customer attributes whose newest observation is newer than the one stored (per-attribute timestamps)."""
    observed = dict(item.get("attributes_observed_at") or {})
    values: dict[str, Any] = {}
    signed_up_at = item.get("signed_up_at")
    for ledger_item in records:
        if ledger_item["entity"] != "customers":
            continue
        record = ledger_item["record"]
        for name in CUSTOMER_ATTRIBUTES:
            if name in record and (name not in observed or record["observed_at"] >= observed[name]):
                observed[name], values[name] = record["observed_at"], record[name]
        if record.get("signup_at") and (not signed_up_at or record["signup_at"] < signed_up_at):
            signed_up_at = values["signed_up_at"] = record["signup_at"]
    if values:
        values["attributes_observed_at"] = observed
    return values


def profile_changes(item: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the new ledger items change on the profile item: aggregates and customer attributes."""
    changes = attribute_changes(item, records)
    if any(ledger_item["entity"] != "customers" for ledger_item in records):
        changes.update(fold_records(item, records))
    return changes


def signed_up_event(profile_id: str, signed_up_at: str, source: str, now: datetime, horizon: timedelta) -> DomainEvent:
    """`Customer Signed Up`; signups older than the horizon are history being loaded, flagged so journeys skip them."""
    return DomainEvent(
        source=PROFILE_EVENTS_SOURCE,
        detail_type="Customer Signed Up",
        detail={
            "profile_id": profile_id,
            "signed_up_at": signed_up_at,
            "source": source,
            "backfill": datetime.fromisoformat(signed_up_at) < now - horizon,
        },
    )


def apply_records(
    store: ProfileLedger,
    entity: str,
    rows: list[dict[str, Any]],
    source: str,
    now: datetime,
    backfill_horizon: timedelta,
    live: LiveDecisions | None = None,
) -> ProfileOutcome:
    """Resolve each row to a profile, then per profile write its new ledger items and aggregates atomically
    (profiles concurrently; outcome and events in the order of the batch's first row of each profile), with the
    live segments decided on the new state (`live`) in the same transaction where it has room."""
    if entity not in RECORD_FIELDS:
        raise UnknownEntity(f"profiles do not apply entity {entity!r}")
    for position, row in enumerate(rows):
        missing = [name for name in natural_key_columns(entity, row) if row.get(name) in (None, "")]
        if missing:
            raise MalformedRecord(f"{entity} row {position} lacks its natural key {', '.join(missing)}")
    outcome = ProfileOutcome()
    resolved = resolve_batch(store.identity, [identifiers_of(row) for row in rows], f"{entity}:{source}", now)
    by_profile: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    row_by_key: dict[str, dict[str, Any]] = {}
    for row, profile_id in zip(rows, resolved.profile_ids):
        if profile_id is None:
            outcome.guest_records += 1
            continue
        record = record_of(entity, row, now)
        key = ledger_key(entity, row, record)
        row_by_key[key] = row
        by_profile[profile_id][key] = {
            "pk": key,
            "sk": "RECORD",
            "profile_id": profile_id,
            "entity": entity,
            "source": source,
            "applied_at": now.isoformat(),
            "identifiers": [f"{kind}#{value}" for kind, value in identifiers_of(row)],
            "record": record,
        }
    items_by_profile = {profile_id: list(items.values()) for profile_id, items in by_profile.items()}
    written: dict[str, dict[str, Any]] = {}  # per profile, the state its last computed change makes

    def changes_kept(item: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
        changes = profile_changes(item, records)
        written[item["profile_id"]] = {**item, **changes}
        return changes

    decide = None if live is None else live.realtime_decisions(now)
    results = store.apply_ledger_batch(items_by_profile, changes_kept, now, decide)
    segment_events: list[DomainEvent] = []  # of the live decisions written with the records, after the others
    applied_by_profile = {profile_id: result.items for profile_id, result in results.items()}
    for profile_id, (applied, membership) in results.items():
        outcome.records_applied += len(applied)
        if applied:  # the last change computed for it is the one written (items carry the live profile's id)
            live_id = applied[-1]["profile_id"]
            outcome.profiles[live_id] = written[live_id]
            if live is not None and membership is not None:
                outcome.decided.add(live_id)
                segment_events += live.announce(membership, written[live_id])
        if profile_id in resolved.created:
            outcome.created += 1
            signups = [item["record"]["signup_at"] for item in applied if item["record"].get("signup_at")]
            if signups:
                outcome.events.append(signed_up_event(profile_id, min(signups), source, now, backfill_horizon))
        elif applied:
            outcome.updated += 1
    outcome.events += tracking_events(entity, applied_by_profile, row_by_key, now, backfill_horizon) + segment_events
    return outcome
