"""Points a ledger record earns or costs, fixed when the record is applied (later rule changes never re-price it).

An order line `completed` earns on its amount: points per unit of its currency x its category's multiplier x the
member day's multiplier when ordered on that day, rounded down; a negative completed line, or a negative cancelled
line (a cancellation note), costs what it would have earned. A return costs its amount at the currency's rate.
A loyalty entry carries its own points (granted or redeemed); granted points without an expiry get the rules'.
Earned points expire `points_expire_after_days` after the day they were earned. Pure: no AWS, no pyarrow.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from cdp.loyalty.rules import LoyaltyRules

EARNING_ENTITIES = ("orders", "returns", "loyalty")


def _whole(points: Decimal) -> int:
    return int(points.quantize(Decimal(1), rounding=ROUND_DOWN))


def _expiry(earned_at: str, rules: LoyaltyRules) -> str:
    return (date.fromisoformat(earned_at[:10]) + timedelta(days=rules.points_expire_after_days)).isoformat()


def _line_points(record: dict[str, Any], rules: LoyaltyRules) -> int:
    status, amount = record.get("status"), Decimal(str(record.get("line_amount") or 0))
    cancellation_note = status == "cancelled" and (amount < 0 or int(record.get("quantity") or 0) < 0)
    if status != "completed" and not cancellation_note:
        return 0
    rate = rules.points_per_unit.get(str(record.get("currency")), Decimal(0))
    rate *= rules.category_multipliers.get(str(record.get("category")), Decimal(1))
    ordered_at = str(record.get("ordered_at") or "")
    if rules.member_day and ordered_at[8:10] == f"{rules.member_day.day_of_month:02d}":
        rate *= rules.member_day.multiplier
    points = _whole(abs(amount) * rate)
    return -points if amount < 0 else points


def record_points(entity: str, record: dict[str, Any], rules: LoyaltyRules) -> dict[str, Any]:
    """The loyalty fields to store on this ledger record: `points` (signed) and, for earned points,
    `points_expire_at` (ISO date); {} when the record neither earns nor costs points."""
    if entity == "orders":
        points, at = _line_points(record, rules), str(record.get("ordered_at") or "")
    elif entity == "returns":
        rate = rules.points_per_unit.get(str(record.get("currency")), Decimal(0))
        points, at = -_whole(Decimal(str(record.get("amount") or 0)) * rate), str(record.get("returned_at") or "")
    elif entity == "loyalty":
        points, at = int(record.get("points") or 0), str(record.get("occurred_at") or "")
        if points > 0 and record.get("expires_at"):
            return {"points": points, "points_expire_at": str(record["expires_at"])[:10]}
    else:
        return {}
    if points == 0 or not at:
        return {}
    return {"points": points, **({"points_expire_at": _expiry(at, rules)} if points > 0 else {})}
