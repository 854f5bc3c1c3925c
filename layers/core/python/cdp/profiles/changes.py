"""The changes a customer record or an order makes to a profile, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

COUNTED_STATUSES = ("completed", "refunded")


@dataclass(frozen=True)
class CustomerChange:
    """Attributes and consents one source record states about a person."""

    identifiers: dict[str, str | None]
    attributes: dict[str, Any]
    consents: dict[str, bool]
    consent_source: str
    observed_at: datetime
    signed_up_at: datetime | None = None


@dataclass(frozen=True)
class OrderChange:
    """One order as it affects a profile's aggregates."""

    order_id: str
    ordered_at: datetime
    currency: str
    amount: Decimal
    items: int
    category: str | None
    status: str
    source: str

    @property
    def counts_as_order(self) -> bool:
        return self.status in COUNTED_STATUSES

    @property
    def net_revenue(self) -> Decimal:
        return self.amount if self.status == "completed" else Decimal("0")


@dataclass
class OrderTotals:
    """What a group of new orders adds to a profile."""

    orders: int = 0
    refunds: int = 0
    units: int = 0
    revenue: Decimal = Decimal("0")
    categories: dict[str, int] = field(default_factory=dict)
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None


def total_orders(orders: list[OrderChange]) -> OrderTotals:
    """Aggregate the orders of one customer (already deduplicated against the ledger)."""
    totals = OrderTotals()
    for order in orders:
        if not order.counts_as_order:
            continue
        totals.orders += 1
        totals.refunds += order.status == "refunded"
        totals.units += order.items
        totals.revenue += order.net_revenue
        if order.category:
            totals.categories[order.category] = totals.categories.get(order.category, 0) + 1
        totals.first_order_at = min(filter(None, (totals.first_order_at, order.ordered_at)))
        totals.last_order_at = max(filter(None, (totals.last_order_at, order.ordered_at)))
    return totals
