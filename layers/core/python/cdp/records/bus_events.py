"""`cdp.tracking` bus events for the behaviour journeys start or stop on, from the records just applied.

Each newly applied event record whose name some journey listens to (`cdp.journeys.definition.tracked_event_names`)
becomes `cdp.tracking` / `<event name>` with detail {profile_id, event, properties, occurred_at, message_id}; each
newly applied order (its lines grouped) becomes `Order Completed`, whatever path it came by (a tracking call, a
Shopify webhook, a file), so an `Order Completed` track call's own event record is not published a second time.
Records applied before are not published again (a replay changes nothing), nor is history older than the
backfill horizon: it updates profiles but starts or stops no journey.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cdp.events import DomainEvent
from cdp.journeys.definition import TRACKING_SOURCE, tracked_event_names

ORDER_COMPLETED = "Order Completed"


def tracking_events(
    entity: str, applied: dict[str, list[dict[str, Any]]], rows: dict[str, dict[str, Any]], now: datetime,
    horizon: timedelta,
) -> list[DomainEvent]:  # fmt: skip
    """The bus events of the ledger items just applied per profile (`rows`: each item's source row by its key)."""
    names = tracked_event_names()
    recent = (now - horizon).isoformat()
    events: list[DomainEvent] = []
    for profile_id, items in applied.items():
        if entity == "events":
            for item in items:
                record, row = item["record"], rows[item["pk"]]
                if record.get("event") in names - {ORDER_COMPLETED} and str(record.get("occurred_at", "")) >= recent:
                    events.append(
                        _event(profile_id, record["event"], _properties(row), record["occurred_at"], record["event_id"])
                    )
        elif entity == "orders" and ORDER_COMPLETED in names:
            events += _orders(profile_id, items, rows, recent)
    return events


def _orders(
    profile_id: str, items: list[dict[str, Any]], rows: dict[str, dict[str, Any]], recent: str
) -> list[DomainEvent]:
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        lines[str(item["record"]["order_id"])].append(item)
    events = []
    for order_id, order_lines in lines.items():
        ordered_at = str(order_lines[0]["record"].get("ordered_at", ""))
        if ordered_at < recent:
            continue
        total = sum((Decimal(str(line["record"].get("line_amount") or 0)) for line in order_lines), Decimal(0))
        products = [
            {"sku": rows[line["pk"]].get("sku"), "name": rows[line["pk"]].get("product_name"),
             "category": rows[line["pk"]].get("category"), "quantity": line["record"].get("quantity")}
            for line in order_lines
        ]  # fmt: skip
        properties = {"order_id": order_id, "total": str(total), "currency": order_lines[0]["record"].get("currency"),
                      "products": products}  # fmt: skip
        events.append(_event(profile_id, ORDER_COMPLETED, properties, ordered_at, f"order:{order_id}"))
    return events


def _properties(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("properties")
    try:
        properties = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return properties if isinstance(properties, dict) else {}


def _event(profile_id: str, name: str, properties: dict[str, Any], occurred_at: Any, message_id: Any) -> DomainEvent:
    return DomainEvent(
        source=TRACKING_SOURCE,
        detail_type=name,
        detail={
            "profile_id": profile_id,
            "event": name,
            "properties": properties,
            "occurred_at": str(occurred_at),
            "message_id": str(message_id),
        },  # fmt: skip
    )
