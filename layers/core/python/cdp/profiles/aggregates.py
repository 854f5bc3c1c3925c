"""Profile aggregates as an order-independent fold over ledger records (pure; no AWS, no pyarrow).

`aggregate_profile(records)` recomputes every aggregate attribute from ledger items; `fold_records(item, records)`
adds new records to the aggregates already on a profile item. Every step is commutative (sums, counts, maxima by
timestamp with a deterministic tie-break, set unions), so applying records incrementally in any batches gives
exactly what `aggregate_profile` gives over all of them. Money stays Decimal; timestamps are ISO strings (UTC).

Money: `revenue` is net revenue, the face-value sum of the money a customer kept with the shop, in every currency:
completed order lines, less cancellations, less returns. `revenue_by_currency` keeps the exact per-currency figures
(no exchange rates are applied; most customers buy in one).

Order lines by `status`:
- `completed` lines are sales: they count in `orders_count` (distinct completed order ids, so a cancellation
  note is never an order), `units`, `revenue`, first/last order dates and favourites. A negative completed line
  (units given back on the sale's own invoice) reduces units and revenue.
- `cancelled` lines count in `cancelled_units` and `cancelled_amount` (absolute values) and their dates in
  `first_cancelled_at` / `last_cancelled_at`. A negative cancelled line is a cancellation note reversing units of
  a sale counted on its own line (the Online Retail C-invoices): its amount and units also reduce `revenue` and
  `units`. A positive cancelled line is an order voided before it was paid (Shopify `voided`): it never counted
  as a sale, so it reduces nothing.
- `refunded` and `pending` lines add nothing (refunded money arrives as `returns`).

Loyalty: the `points` a record carries (priced when it was applied, `cdp.loyalty.points`) are kept by expiry day
(`points_expiries`) and month (`points_by_month`) when earned, by day when spent (`points_spent`); net spend by
month (`spend_by_month`) follows revenue. `cdp.loyalty.status` turns these into the balance and tier as of a moment.
A loyalty entry's `tier` is a tier the shop assigned (`assigned_tier`), the newest one kept.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

FAVOURITES = 3
CENT = Decimal("0.01")
OPEN_TICKET_STATUSES = ("open", "pending")
CART_EVENTS = ("Product Added", "Product Removed")
POINTS_DATE = {"orders": "ordered_at", "returns": "returned_at", "loyalty": "occurred_at"}


def _zero() -> dict[str, Any]:
    return {
        "orders_count": 0,
        "order_ids": [],
        "units": 0,
        "revenue": Decimal(0),
        "revenue_by_currency": {},
        "cancelled_units": 0,
        "cancelled_amount": Decimal(0),
        "first_cancelled_at": None,
        "last_cancelled_at": None,
        "average_order_value": Decimal(0),
        "first_order_at": None,
        "last_order_at": None,
        "categories": {},
        "brands": {},
        "favourite_categories": [],
        "favourite_brands": [],
        "returns_count": 0,
        "return_ids": [],
        "returned_units": 0,
        "returned_amount": Decimal(0),
        "events_count": 0,
        "last_seen_at": None,
        "active_hours": {},
        "product_views_count": 0,
        "cart_products": {},
        "checkout_started_at": None,
        "last_order_completed_at": None,
        "cart_status": "empty",
        "cart_items_count": 0,
        "ticket_states": {},
        "open_tickets_count": 0,
        "last_ticket_rating": None,
        "last_ticket_rating_at": None,
        "last_nps": None,
        "last_nps_at": None,
        "last_csat": None,
        "last_csat_at": None,
        "last_rating": None,
        "last_rating_at": None,
        "points_expiries": {},
        "points_spent": {},
        "points_by_month": {},
        "spend_by_month": {},
        "assigned_tier": None,
        "assigned_tier_at": None,
    }


AGGREGATE_ATTRIBUTES = tuple(_zero())


def _later(at: str | None, current: str | None) -> bool:
    return at is not None and (current is None or at > current)


def _max(current: str | None, at: str | None) -> str | None:
    return at if _later(at, current) else current


def _min(current: str | None, at: str | None) -> str | None:
    return at if at is not None and (current is None or at < current) else current


def _add(counts: dict[str, Any], key: str | None, amount: Any) -> None:
    if key:
        counts[key] = counts.get(key, 0) + amount


def _union(values: list[str], value: str) -> bool:
    """Add `value` to a sorted list used as a set; True if it was new."""
    if value in values:
        return False
    values.append(value)
    values.sort()
    return True


def _latest(state: dict[str, Any], value_name: str, at_name: str, value: Any, at: str) -> None:
    """Keep the value observed last (ties: the larger value, so the outcome never depends on arrival order)."""
    current_at = state[at_name]
    if _later(at, current_at) or (at == current_at and value is not None and str(value) > str(state[value_name])):
        state[value_name], state[at_name] = value, at


def _fold_cancellation(state: dict[str, Any], record: dict[str, Any], amount: Decimal, quantity: int) -> None:
    state["cancelled_units"] += abs(quantity)
    state["cancelled_amount"] += abs(amount)
    state["first_cancelled_at"] = _min(state["first_cancelled_at"], record.get("ordered_at"))
    state["last_cancelled_at"] = _max(state["last_cancelled_at"], record.get("ordered_at"))
    if amount < 0 or quantity < 0:
        _add(state["spend_by_month"], str(record.get("ordered_at"))[:7], -abs(amount))
        state["units"] -= abs(quantity)
        state["revenue"] -= abs(amount)
        _add(state["revenue_by_currency"], record.get("currency"), -abs(amount))


def _fold_order(state: dict[str, Any], record: dict[str, Any]) -> None:
    status = record.get("status", "completed")
    amount = Decimal(record.get("line_amount") or 0)
    quantity = int(record.get("quantity") or 0)
    if status == "cancelled":
        _fold_cancellation(state, record, amount, quantity)
    if status != "completed":
        return
    if _union(state["order_ids"], str(record["order_id"])):
        state["orders_count"] += 1
    state["units"] += quantity
    state["revenue"] += amount
    _add(state["revenue_by_currency"], record.get("currency"), amount)
    _add(state["spend_by_month"], str(record.get("ordered_at"))[:7], amount)
    state["first_order_at"] = _min(state["first_order_at"], record.get("ordered_at"))
    state["last_order_at"] = _max(state["last_order_at"], record.get("ordered_at"))
    if quantity > 0:
        _add(state["categories"], record.get("category"), 1)
        _add(state["brands"], record.get("brand"), 1)


def _fold_return(state: dict[str, Any], record: dict[str, Any]) -> None:
    amount = Decimal(record["amount"])
    if _union(state["return_ids"], str(record["return_id"])):
        state["returns_count"] += 1
    state["returned_units"] += int(record.get("quantity") or 0)
    state["returned_amount"] += amount
    state["revenue"] -= amount
    _add(state["revenue_by_currency"], record.get("currency"), -amount)
    _add(state["spend_by_month"], str(record.get("returned_at"))[:7], -amount)


def _fold_event(state: dict[str, Any], record: dict[str, Any]) -> None:
    state["events_count"] += 1
    at = record.get("occurred_at")
    if at is None:
        return
    state["last_seen_at"] = _max(state["last_seen_at"], at)
    _add(state["active_hours"], at[11:13], 1)
    name = record["event"]
    if name == "Product Viewed":
        state["product_views_count"] += 1
    elif name in CART_EVENTS and record.get("sku"):
        current = state["cart_products"].get(record["sku"])
        action = "added" if name == "Product Added" else "removed"
        candidate = {"action": action, "at": at, "quantity": int(record.get("quantity") or 1)}
        if current is None or (at, action) > (current["at"], current["action"]):
            state["cart_products"][record["sku"]] = candidate
    elif name == "Checkout Started":
        state["checkout_started_at"] = _max(state["checkout_started_at"], at)
    elif name == "Order Completed":
        state["last_order_completed_at"] = _max(state["last_order_completed_at"], at)


def _fold_ticket(state: dict[str, Any], record: dict[str, Any]) -> None:
    at = record["updated_at"]
    current = state["ticket_states"].get(record["ticket_id"])
    if current is None or (at, record["status"]) > (current["updated_at"], current["status"]):
        state["ticket_states"][record["ticket_id"]] = {"status": record["status"], "updated_at": at}
    if record.get("rating") is not None:
        _latest(state, "last_ticket_rating", "last_ticket_rating_at", int(record["rating"]), at)


def _fold_feedback(state: dict[str, Any], record: dict[str, Any]) -> None:
    kind = record["kind"]
    _latest(state, f"last_{kind}", f"last_{kind}_at", int(record["score"]), record["responded_at"])


def _fold_points(state: dict[str, Any], record: dict[str, Any], at: str | None) -> None:
    """Points a record earned (by expiry day, and by month for the points tier basis) or cost (by day)."""
    points = int(record.get("points") or 0)
    if points > 0 and record.get("points_expire_at") and at:
        _add(state["points_expiries"], record["points_expire_at"], points)
        _add(state["points_by_month"], at[:7], points)
    elif points < 0 and at:
        _add(state["points_spent"], at[:10], -points)


def _fold_loyalty(state: dict[str, Any], record: dict[str, Any]) -> None:
    if record.get("tier"):
        _latest(state, "assigned_tier", "assigned_tier_at", record["tier"], record["occurred_at"])


FOLDS = {
    "orders": _fold_order,
    "returns": _fold_return,
    "events": _fold_event,
    "tickets": _fold_ticket,
    "feedback": _fold_feedback,
    "loyalty": _fold_loyalty,
}


def _finish(state: dict[str, Any]) -> dict[str, Any]:
    """Attributes derived from the folded state (the same function after every fold, so never out of step)."""
    count = state["orders_count"]
    state["average_order_value"] = (state["revenue"] / count).quantize(CENT) if count else Decimal(0)
    for counts, favourites in (("categories", "favourite_categories"), ("brands", "favourite_brands")):
        ranked = sorted(state[counts].items(), key=lambda item: (-item[1], item[0]))
        state[favourites] = [name for name, _ in ranked[:FAVOURITES]]
    completed = state["last_order_completed_at"]
    state["cart_products"] = {
        sku: entry for sku, entry in state["cart_products"].items() if completed is None or entry["at"] > completed
    }
    in_cart = [entry for entry in state["cart_products"].values() if entry["action"] == "added"]
    state["cart_items_count"] = sum(int(entry["quantity"]) for entry in in_cart)
    latest_add = max((entry["at"] for entry in in_cart), default=None)
    if not in_cart:
        state["cart_status"] = "empty"
    elif _later(state["checkout_started_at"], latest_add):
        state["cart_status"] = "checkout_started"
    else:
        state["cart_status"] = "open"
    state["open_tickets_count"] = sum(
        1 for ticket in state["ticket_states"].values() if ticket["status"] in OPEN_TICKET_STATUSES
    )
    return state


def fold_records(item: dict[str, Any], records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The aggregate attributes after adding these ledger items' records to those stored on `item`."""
    state = _zero()
    state.update(copy.deepcopy({name: item[name] for name in AGGREGATE_ATTRIBUTES if item.get(name) is not None}))
    for name in ("revenue", "returned_amount", "cancelled_amount"):
        state[name] = Decimal(state[name])
    for ledger_item in records:
        fold = FOLDS.get(ledger_item.get("entity", ""))
        if fold is not None:
            record = ledger_item["record"]
            fold(state, record)
            _fold_points(state, record, record.get(POINTS_DATE.get(ledger_item["entity"], "")))
    return _finish(state)


def aggregate_profile(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Every aggregate attribute (zeros included) recomputed from ledger items (`entity`, `record`)."""
    return fold_records({}, records)
