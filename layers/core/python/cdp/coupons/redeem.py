"""Redeem coupons from orders as they are applied: an order line's `coupon` column, or the `coupon` property of an
Order Completed event (Segment e-commerce spec v2).

One redemption per (code, order): the order's total is what its completed lines add up to in the rows at hand (an
event's `total`, else `revenue`). A code redeems once, by one order; a replay of the same order changes nothing.
Refused, each counted on the offer: `unknown_code`, `outside_validity` (used before its issue or after its expiry), `below_minimum`,
`already_redeemed` (by another order) and `person_limit` (a merged person redeeming more of an offer than its
per-customer limit, with codes issued to their accounts before the merge).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cdp.coupons.offers import OfferCatalogue
from cdp.coupons.ports import CouponLedger

MAX_CODE_LENGTH = 64


@dataclass(frozen=True)
class CouponUse:
    code: str
    order_id: str
    total: Decimal
    at: datetime


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _code(value: Any) -> str | None:
    code = str(value).strip().upper() if isinstance(value, (str, int)) else ""
    return code if 0 < len(code) <= MAX_CODE_LENGTH else None


def coupon_uses(entity: str, rows: list[dict[str, Any]]) -> list[CouponUse]:
    """The coupons these canonical rows used: orders by their `coupon` column (one use per order and code, the
    order's completed lines summed), events by an Order Completed's `coupon` property."""
    if entity == "orders":
        totals: dict[tuple[str, str], Decimal] = {}
        moments: dict[tuple[str, str], datetime] = {}
        for row in rows:
            code, at = _code(row.get("coupon")), _moment(row.get("ordered_at"))
            if code is None or at is None or not row.get("order_id"):
                continue
            key = (code, str(row["order_id"]))
            completed = row.get("status") == "completed"
            totals[key] = totals.get(key, Decimal(0)) + (_amount(row.get("line_amount")) if completed else Decimal(0))
            moments[key] = min(moments.get(key, at), at)
        return [
            CouponUse(code, order_id, totals[(code, order_id)], moments[(code, order_id)]) for code, order_id in totals
        ]
    if entity == "events":
        uses = []
        for row in rows:
            if row.get("event") != "Order Completed":
                continue
            try:
                properties = json.loads(row.get("properties") or "{}")
            except ValueError:
                continue
            if not isinstance(properties, dict):
                continue
            code, at = _code(properties.get("coupon")), _moment(row.get("occurred_at"))
            order_id = properties.get("order_id") or row.get("event_id")
            if code and at and order_id:
                total = _amount(properties.get("total", properties.get("revenue")))
                uses.append(CouponUse(code, str(order_id)[:200], total, at))
        return uses
    return []


def redeem_coupons(ledger: CouponLedger, offers: OfferCatalogue, uses: list[CouponUse]) -> Counter[str]:
    """Redeem each use; returns how many were `redeemed` and how many refused, by reason."""
    outcome: Counter[str] = Counter()
    for use in uses:
        reason = _redeem(ledger, offers, use)
        outcome[reason] += 1
    return outcome


def _redeem(ledger: CouponLedger, offers: OfferCatalogue, use: CouponUse) -> str:
    coupon = ledger.coupon(use.code)
    if coupon is None:
        return "unknown_code"
    issuance = coupon.issuance
    if coupon.redeemed_order == use.order_id:
        return "redeemed"
    offer = offers.get(issuance.offer)
    reason = None
    if coupon.redeemed_order is not None:
        reason = "already_redeemed"
    elif not issuance.issued_at <= use.at < issuance.expires_at:
        reason = "outside_validity"
    elif offer is not None and use.total < offer.minimum_order:
        reason = "below_minimum"
    elif (
        offer is not None and _person_redeemed(ledger, issuance.offer, issuance.profile_id) >= offer.per_customer_limit
    ):
        reason = "person_limit"
    elif not ledger.redeem(issuance, use.order_id, use.at):
        reason = "already_redeemed"
    if reason is None:
        return "redeemed"
    ledger.count_refusal(issuance.offer, f"redemption:{reason}")
    return reason


def _person_redeemed(ledger: CouponLedger, offer: str, profile_id: str) -> int:
    person = ledger.person(profile_id)
    return ledger.person_coupons(offer, person).redeemed if person else 0
