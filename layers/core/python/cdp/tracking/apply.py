"""Applies tracking calls: each call validated on its own, replays skipped by messageId, rows applied to profiles.

A call becomes canonical rows (`cdp.tracking.rows`); customers, orders and events rows go through
`cdp.records.appliers.apply_entity_records` (erased people dropped, consent columns recorded), then
identifier sets that belong together (alias, or userId with anonymousId) are linked through `cdp.identity.resolution.resolve_batch`. Ids are remembered only once everything was applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cdp.events import DomainEvent
from cdp.identity.resolution import resolve_batch
from cdp.privacy.erasure import drop_erased_links
from cdp.records.appliers import apply_entity_records
from cdp.records.apply import ProfileOutcome
from cdp.records.ports import ProfileLedger
from cdp.tracking.messages import Call, InvalidCall
from cdp.tracking.ports import Register
from cdp.tracking.rows import CanonicalRows, Lineage, call_rows
from cdp.tracking.shopify import TOPICS, checkout_updated, webhook_rows


@dataclass(frozen=True)
class TrackingPorts:
    """What applying needs: the profile store, the messageId register, the two windows from settings and the erasure
    salt (rows of erased people are dropped)."""

    store: ProfileLedger
    register: Register
    dedupe_window: timedelta
    backfill_horizon: timedelta
    salt: str


@dataclass
class Applied(ProfileOutcome):
    """What a set of rows did to profiles, summed over entities, the domain events to publish and the profiles the
    linked identifier sets resolved to."""

    linked_profiles: list[str | None] = field(default_factory=list)


@dataclass
class TrackingResult:
    """Per-call outcome by index: accepted, accepted-duplicate (a replay inside the window) or rejected."""

    accepted: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    applied: Applied = field(default_factory=Applied)


def apply_rows(ports: TrackingPorts, rows: CanonicalRows, source: str, now: datetime) -> Applied:
    """Apply customers, orders and events rows to profiles, then link the identifier sets that belong together.

    Linking after applying lets a new person's first rows create their profile (and its signup event); a link
    that names a known profile is a no-op, one joining two profiles merges them.
    """
    applied = Applied()
    for entity, entity_rows in rows.by_entity():
        if not entity_rows:
            continue
        outcome, _erased = apply_entity_records(
            ports.store, entity, entity_rows, source, now, ports.backfill_horizon, ports.salt
        )
        applied.add(outcome)
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
    rows = CanonicalRows()
    fresh: list[str] = []
    for index, call in calls:
        if call.message_id in seen:
            result.duplicates.append(index)
            continue
        lineage = Lineage(f"http/{source_id}", call.message_id, index)
        try:
            rows.extend(call_rows(call, source_id, call.occurred_at(received_at, batch_sent_at), lineage))
        except InvalidCall as invalid:
            result.rejected.append({"index": index, "errors": invalid.errors})
            continue
        seen.add(call.message_id)
        fresh.append(call.message_id)
        result.accepted.append(index)
    if fresh:
        result.applied = apply_rows(ports, rows, register_source, received_at)
        ports.register.remember(register_source, fresh, received_at, ports.dedupe_window)
    return result


@dataclass(frozen=True)
class WebhookOutcome:
    """`applied`, `duplicate` (webhook id seen within the window) or `ignored` (a topic the platform does not read)."""

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
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidCall([{"field": "", "message": "body is not valid JSON"}]) from None
    rows = webhook_rows(topic, payload, Lineage(f"shopify/{shop}", webhook_id, 0))
    applied = apply_rows(ports, rows, source, received_at)
    events = list(applied.events)
    if topic == "checkouts/update":
        events += checkout_updated(rows, applied.linked_profiles[0] if applied.linked_profiles else None, shop)
    ports.register.remember(source, [webhook_id], received_at, ports.dedupe_window)
    return WebhookOutcome("applied", events)
