"""Records just applied become the `cdp.tracking` bus events journeys listen to: once, recent ones only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp.records.bus_events import tracking_events

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
HORIZON = timedelta(days=30)


def _event_item(key: str, name: str, at: datetime) -> dict[str, Any]:
    return {"pk": key, "record": {"event_id": key, "event": name, "occurred_at": at.isoformat()}}


def _line(key: str, order_id: str, amount: str, at: datetime = NOW) -> dict[str, Any]:
    return {"pk": key, "record": {"order_id": order_id, "line_amount": amount, "quantity": 1, "currency": "EUR",
                                  "ordered_at": at.isoformat()}}  # fmt: skip


def test_listened_recent_events_are_published_with_their_properties() -> None:
    # Given applied event records: a checkout, a page view no journey hears, an old product add, an order event
    items = [
        _event_item("k1", "Checkout Started", NOW),
        _event_item("k2", "Page Viewed", NOW),
        _event_item("k3", "Product Added", NOW - timedelta(days=90)),
        _event_item("k4", "Order Completed", NOW),
    ]
    rows = {item["pk"]: {"properties": json.dumps({"cart_id": "c1"})} for item in items}
    # When their bus events are made
    events = tracking_events("events", {"p1": items}, rows, NOW, HORIZON)
    # Then only the checkout is published (orders come from order records), shaped as the contract says
    assert [(e.source, e.detail_type) for e in events] == [("cdp.tracking", "Checkout Started")]
    assert events[0].detail == {"profile_id": "p1", "event": "Checkout Started", "properties": {"cart_id": "c1"},
                                "occurred_at": NOW.isoformat(), "message_id": "k1"}  # fmt: skip


def test_each_new_order_is_one_order_completed_with_its_total() -> None:
    # Given two lines of one order and one line of an order from last year
    items = [_line("l1", "o1", "10.50"), _line("l2", "o1", "4.50"), _line("l3", "o0", "9", NOW - timedelta(days=365))]
    rows = {"l1": {"sku": "A"}, "l2": {"sku": "B"}, "l3": {"sku": "C"}}
    # When their bus events are made
    events = tracking_events("orders", {"p1": items}, rows, NOW, HORIZON)
    # Then one Order Completed for the recent order, with both lines
    assert [e.detail_type for e in events] == ["Order Completed"]
    assert events[0].detail["properties"]["total"] == "15.00"
    assert [p["sku"] for p in events[0].detail["properties"]["products"]] == ["A", "B"]


def test_nothing_applied_publishes_nothing() -> None:
    assert tracking_events("events", {"p1": []}, {}, NOW, HORIZON) == []
    assert tracking_events("customers", {"p1": [{"pk": "c", "record": {}}]}, {}, NOW, HORIZON) == []
