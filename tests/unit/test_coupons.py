"""Coupon offers as data, and which coupons canonical order and event rows used."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from cdp.coupons.issue import CODE_ALPHABET, generated_code
from cdp.coupons.offers import InvalidOffers, load_offers, parse_offers
from cdp.coupons.redeem import CouponUse, coupon_uses

AT = datetime(2026, 12, 1, 10, tzinfo=UTC)
OFFER = {
    "name": "spring", "codes": {"generated": {"prefix": "SPRING"}}, "total_cap": 10, "per_customer_limit": 1,
    "valid_from": "2026-03-01T00:00:00Z", "valid_until": "2026-06-01T00:00:00Z", "code_valid_days": 30,
    "discount": {"percent": 20},
}  # fmt: skip


def test_the_shipped_offers_are_valid_and_a_pool_caps_its_offer() -> None:
    offers = load_offers()
    vip = offers.get("vip_gift")
    assert vip is not None and vip.cap == len(vip.codes.pool or []) == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"codes": {}}, "give exactly one of `generated` or `pool`"),
        ({"codes": {"pool": ["A1B2", "A1B2"]}}, "pool codes must be unique"),
        ({"codes": {"pool": ["has space"]}}, "pool codes must match"),
        ({"valid_until": "2026-02-01T00:00:00Z"}, "valid_until must be after valid_from"),
        ({"valid_from": "2026-03-01T00:00:00"}, "valid_from: Input should have timezone info"),
        ({"per_customer_limit": 0}, "per_customer_limit"),
        ({"discount": {"percent": 10, "amount": 5}}, "give exactly one of `percent` or `amount`"),
        ({"discount": {"percent": 120}}, "offers.0.discount.percent"),
        ({"name": "Spring Sale"}, "offers.0.name"),
        ({"typo": 1}, "offers.0.typo: Extra inputs are not permitted"),
    ],
)
def test_bad_offers_are_refused_with_the_problem_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidOffers, match=message.replace("(", r"\(")):
        parse_offers(json.dumps({"offers": [OFFER | change]}))


def test_two_offers_of_one_name_are_refused() -> None:
    with pytest.raises(InvalidOffers, match="offer names must be unique"):
        parse_offers(json.dumps({"offers": [OFFER, OFFER]}))


def test_a_code_issued_late_in_the_window_expires_with_the_offer() -> None:
    offer = parse_offers(json.dumps({"offers": [OFFER]})).offers[0]
    assert offer.code_expires_at(datetime(2026, 5, 20, tzinfo=UTC)) == datetime(2026, 6, 1, tzinfo=UTC)


def test_generated_codes_are_unambiguous() -> None:
    code = generated_code("WELCOME")
    assert code.startswith("WELCOME-") and all(char in CODE_ALPHABET for char in code.removeprefix("WELCOME-"))


def test_order_lines_use_a_coupon_once_per_order_with_the_completed_total() -> None:
    rows = [
        {"order_id": "O1", "ordered_at": AT, "status": "completed", "line_amount": Decimal("30"), "coupon": " ab-12 "},
        {"order_id": "O1", "ordered_at": AT, "status": "completed", "line_amount": Decimal("25"), "coupon": "AB-12"},
        {"order_id": "O1", "ordered_at": AT, "status": "cancelled", "line_amount": Decimal("-5"), "coupon": "AB-12"},
        {"order_id": "O2", "ordered_at": AT, "status": "completed", "line_amount": Decimal("9"), "coupon": None},
        {"order_id": "O3", "ordered_at": AT, "status": "completed", "line_amount": Decimal("9"), "coupon": "X" * 500},
    ]
    assert coupon_uses("orders", rows) == [CouponUse("AB-12", "O1", Decimal("55"), AT)]


def test_order_completed_events_use_their_coupon_property() -> None:
    rows = [
        {"event": "Order Completed", "event_id": "e1", "occurred_at": AT.isoformat(),
         "properties": json.dumps({"order_id": "O9", "total": 72.5, "coupon": "summer"})},
        {"event": "Order Completed", "event_id": "e2", "occurred_at": AT.isoformat(), "properties": "{not json"},
        {"event": "Order Completed", "event_id": "e3", "occurred_at": AT.isoformat(), "properties": "[1]"},
        {"event": "Order Completed", "event_id": "e4", "occurred_at": AT.isoformat(),
         "properties": json.dumps({"revenue": "abc", "coupon": {"nested": True}})},
        {"event": "Product Viewed", "event_id": "e5", "occurred_at": AT.isoformat(),
         "properties": json.dumps({"coupon": "summer"})},
    ]  # fmt: skip
    assert coupon_uses("events", rows) == [CouponUse("SUMMER", "O9", Decimal("72.5"), AT)]
    assert coupon_uses("tickets", rows) == []
