"""Applies tracking calls and Shopify webhooks: each call validated on its own, replays skipped by messageId (or
webhook id), rows applied to profiles and sent to the curated zone.

A call becomes canonical rows (`cdp.tracking.rows`, `cdp.tracking.shopify`); per entity (customers, orders, events)
the rows of erased people are dropped, the rest go through the file pipeline's use case
(`cdp.records.appliers.apply_checked_records`: profiles, consent columns) and then to the curated zone
(`CuratedSink`: Parquet beside the files' rows); then identifier sets that belong together (alias, or userId with
anonymousId) are linked through `cdp.identity.resolution.resolve_batch`. Ids are remembered only once everything was
applied and every row reached the curated zone, so a retry after a failure redoes what is missing: profile records
are applied once per natural key, so only the curated rows of the retried calls can be written twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cdp.curated_layout import partition_day
from cdp.events import DomainEvent
from cdp.identity.resolution import resolve_batch
from cdp.observability import logger
from cdp.privacy.erasure import drop_erased, drop_erased_links
from cdp.records.appliers import apply_checked_records
from cdp.records.apply import ProfileOutcome
from cdp.records.ports import LiveDecisions, ProfileLedger
from cdp.tracking.messages import Call, InvalidCall
from cdp.tracking.ports import CuratedSink, Register
from cdp.tracking.rows import CanonicalRows, Lineage, call_rows
from cdp.tracking.shopify import TOPICS, checkout_updated, webhook_payload, webhook_rows

# Content a store cannot take (a row without its key, a number out of range): the call is rejected, not retried.
UNAPPLICABLE_ERRORS = (ValueError, ArithmeticError)


@dataclass(frozen=True)
class TrackingPorts:
    """What applying needs: the profile store, the messageId register, the curated zone, the two windows and the
    default phone region from settings, the erasure salt (rows of erased people are dropped), and the live segments
    that decide each written profile at once."""

    store: ProfileLedger
    register: Register
    curated: CuratedSink
    dedupe_window: timedelta
    backfill_horizon: timedelta
    phone_region: str
    salt: str
    live_segments: LiveDecisions | None = None


@dataclass
class Applied(ProfileOutcome):
    """What a set of rows did to profiles, summed over entities, the domain events to publish, the profiles the
    linked identifier sets resolved to, and how many rows did not reach the curated zone."""

    linked_profiles: list[str | None] = field(default_factory=list)
    undelivered: int = 0


@dataclass
class TrackingResult:
    """Per-call outcome by index: accepted, accepted-duplicate (a replay inside the window) or rejected; and whether
    the accepted calls must be sent again because some of their rows did not reach the curated zone."""

    accepted: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    applied: Applied = field(default_factory=Applied)

    @property
    def retry(self) -> bool:
        return self.applied.undelivered > 0


def apply_rows(ports: TrackingPorts, rows: CanonicalRows, source: str, now: datetime) -> Applied:
    """Apply customers, orders and events rows to profiles and send them to the curated zone (erased people's rows
    dropped from both), then link the identifier sets that belong together.

    Linking after applying lets a new person's first rows create their profile (and its signup event); a link
    that names a known profile is a no-op, one joining two profiles merges them.
    """
    applied = Applied()
    for entity, entity_rows in rows.by_entity():
        kept, _erased = drop_erased(ports.store.privacy, entity_rows, ports.salt) if entity_rows else ([], 0)
        if not kept:
            continue
        applied.add(
            apply_checked_records(ports.store, entity, kept, source, now, ports.backfill_horizon, ports.live_segments)
        )
        applied.undelivered += ports.curated.deliver(entity, [(partition_day(entity, row, now.date()), row) for row in kept])
    links = drop_erased_links(ports.store.privacy, rows.links, ports.salt)
    if links:
        applied.linked_profiles = resolve_batch(ports.store.identity, links, source, now).profile_ids
    return applied


def apply_calls(
    ports: TrackingPorts,
    source_id: str,
    calls: list[tuple[int, Call]],
    received_at: datetime,
    batch_sent_at: datetime | None = None,
) -> TrackingResult:
    """Apply valid calls (index, call): replays within the window are reported as duplicates and change nothing."""
    result = TrackingResult()
    register_source = f"http:{source_id}"
    seen = ports.register.seen(register_source, [call.message_id for _, call in calls], received_at)
    fresh: list[tuple[int, str, CanonicalRows]] = []
    for index, call in calls:
        if call.message_id in seen:
            result.duplicates.append(index)
            continue
        lineage = Lineage(f"http/{source_id}", call.message_id, index)
        try:
            made = call_rows(call, source_id, call.occurred_at(received_at, batch_sent_at), lineage, ports.phone_region)
        except InvalidCall as invalid:
            result.rejected.append({"index": index, "errors": invalid.errors})
            continue
        fresh.append((index, call.message_id, made))
        seen.add(call.message_id)
    if fresh:
        applied = _apply_isolating_failures(ports, fresh, register_source, received_at, result)
        if not result.retry:
            ports.register.remember(register_source, applied, received_at, ports.dedupe_window)
    return result


def _apply_isolating_failures(
    ports: TrackingPorts,
    calls: list[tuple[int, str, CanonicalRows]],
    source: str,
    now: datetime,
    result: TrackingResult,
) -> list[str]:
    """Apply the calls' rows together; if their content cannot be applied, apply call by call (records are applied
    once by key, so repeating those already written is harmless) and reject only the calls that fail by index.
    Returns the message ids applied. Errors of the store itself (throttling, outages) are not caught: retried."""
    rows = CanonicalRows()
    for _, _, made in calls:
        rows.extend(made)
    try:
        result.applied = apply_rows(ports, rows, source, now)
    except UNAPPLICABLE_ERRORS as error:
        logger.warning("batch applied call by call", extra={"error": type(error).__name__, "calls": len(calls)})
    else:
        result.accepted += [index for index, _, _ in calls]
        return [message_id for _, message_id, _ in calls]
    applied: list[str] = []
    for index, message_id, made in calls:
        try:
            outcome = apply_rows(ports, made, source, now)
        except UNAPPLICABLE_ERRORS as error:
            message = f"could not be applied ({type(error).__name__})"
            result.rejected.append({"index": index, "errors": [{"field": "", "message": message}]})
            continue
        result.applied.add(outcome)
        result.applied.linked_profiles += outcome.linked_profiles
        result.applied.undelivered += outcome.undelivered
        result.accepted.append(index)
        applied.append(message_id)
    return applied


@dataclass(frozen=True)
class WebhookOutcome:
    """`applied`, `duplicate` (webhook id seen within the window), `ignored` (a topic the platform does not read) or
    `retry` (applied to profiles, but some rows did not reach the curated zone: Shopify must send it again)."""

    status: str
    events: list[DomainEvent] = field(default_factory=list)


def apply_webhook(
    ports: TrackingPorts, shop: str, topic: str, webhook_id: str, body: bytes, received_at: datetime
) -> WebhookOutcome:
    """Apply a verified Shopify webhook once per `X-Shopify-Webhook-Id`; raises InvalidCall for an unusable body."""
    if topic not in TOPICS:
        return WebhookOutcome("ignored")
    source = f"shopify:{shop}"
    if ports.register.seen(source, [webhook_id], received_at):
        return WebhookOutcome("duplicate")
    rows = webhook_rows(topic, webhook_payload(body), Lineage(f"shopify/{shop}", webhook_id, 0), ports.phone_region)
    applied = apply_rows(ports, rows, source, received_at)
    events = list(applied.events)
    if topic == "checkouts/update":
        events += checkout_updated(rows, applied.linked_profiles[0] if applied.linked_profiles else None, shop)
    if applied.undelivered:
        return WebhookOutcome("retry", events)
    ports.register.remember(source, [webhook_id], received_at, ports.dedupe_window)
    return WebhookOutcome("applied", events)
