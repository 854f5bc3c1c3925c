"""Applies validated tracking messages: dedupe by messageId, resolve the person, update profile and ledger."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from cdp.adapters.event_ledger import EventLedger
from cdp.adapters.profile_store import ProfileStore
from cdp.profiles.changes import CustomerChange, OrderChange
from cdp.profiles.upsert import ProfileOutcome, apply_orders, upsert_customers
from cdp.tracking.messages import MAX_MESSAGE_BYTES, TrackingBatch, TrackingMessage

DEDUPE_WINDOW = timedelta(days=7)


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    outcome: ProfileOutcome = field(default_factory=ProfileOutcome)


def _customer_change(message: TrackingMessage, source: str, observed_at: datetime) -> CustomerChange:
    traits = message.traits
    consents = {
        channel: bool(traits[f"{channel}_consent"]) for channel in ("email", "sms") if f"{channel}_consent" in traits
    }
    created_at = traits.get("createdAt") or traits.get("created_at")
    return CustomerChange(
        identifiers={
            "customer_id": message.user_id,
            "email": traits.get("email"),
            "phone": traits.get("phone"),
            "anonymous_id": message.anonymous_id,
        },
        attributes={
            "first_name": traits.get("firstName") or traits.get("first_name"),
            "last_name": traits.get("lastName") or traits.get("last_name"),
            "email": (traits.get("email") or "").strip().lower() or None,
            "phone": traits.get("phone"),
        },
        consents=consents,
        consent_source=source,
        observed_at=observed_at,
        signed_up_at=datetime.fromisoformat(created_at) if isinstance(created_at, str) else None,
    )


def _order_of(message: TrackingMessage, occurred_at: datetime, source: str) -> OrderChange | None:
    """An `Order Completed` event (Segment E-commerce spec v2) as an order; None if it names no order id."""
    properties = message.properties
    if not properties.get("order_id"):
        return None
    try:
        amount = Decimal(str(properties.get("total", properties.get("revenue", 0))))
    except InvalidOperation:
        return None
    products = properties.get("products") or []
    return OrderChange(
        order_id=str(properties["order_id"]),
        ordered_at=occurred_at,
        currency=str(properties.get("currency", "USD")).upper(),
        amount=amount,
        items=sum(int(p.get("quantity", 1)) for p in products if isinstance(p, dict)) or 1,
        category=next((p.get("category") for p in products if isinstance(p, dict) and p.get("category")), None),
        status="completed",
        source=source,
    )


def apply_batch(
    batch: TrackingBatch,
    source_id: str,
    store: ProfileStore,
    ledger: EventLedger,
    received_at: datetime,
    backfill_horizon: timedelta,
) -> BatchResult:
    """Validate each message on its own: good ones are applied, bad ones reported by index (partial acceptance)."""
    result = BatchResult()
    source = f"http:{source_id}"
    for index, raw in enumerate(batch.batch):
        if len(json.dumps(raw, default=str).encode()) > MAX_MESSAGE_BYTES:
            result.rejected.append({"index": index, "errors": ["message larger than 32 KB"]})
            continue
        try:
            message = TrackingMessage.model_validate(raw)
        except ValidationError as error:
            result.rejected.append({"index": index, "errors": [detail["msg"] for detail in error.errors()]})
            continue
        if not ledger.first_sighting(source_id, message.message_id, received_at, DEDUPE_WINDOW):
            result.duplicates += 1
            continue
        occurred_at = message.corrected_timestamp(received_at, batch.sent_at)
        change = _customer_change(message, source, received_at)
        outcome = upsert_customers(store, [change], received_at, backfill_horizon)
        profile_id = outcome.profile_ids[0] if outcome.profile_ids else None
        if profile_id and message.type != "identify":
            ledger.record_event(
                profile_id, occurred_at, message.message_id, message.type, message.event, message.properties
            )
        order = _order_of(message, occurred_at, source) if message.event == "Order Completed" else None
        if order and message.user_id:
            outcome.orders_applied += apply_orders(store, [(message.user_id, order)], received_at).orders_applied
        result.outcome.created += outcome.created
        result.outcome.updated += outcome.updated
        result.outcome.orders_applied += outcome.orders_applied
        result.outcome.events.extend(outcome.events)
        result.accepted += 1
    return result
