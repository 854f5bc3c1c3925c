"""LOCAL STAND-IN (untracked) until the profiles branch lands."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any


def aggregate_profile(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    orders = [r for r in records if r.get("entity") == "orders"]
    return {
        "orders_count": len({r["record"]["order_id"] for r in orders}),
        "revenue": sum((Decimal(str(r["record"].get("line_amount", 0))) for r in orders), Decimal(0)),
        "categories": {},
    }
