"""Shopify webhooks: HMAC signature over the raw body, and the canonical rows of each topic read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cdp.tracking.messages import InvalidCall
from cdp.tracking.rows import Lineage
from cdp.tracking.shopify import checkout_updated, signature_is_valid, webhook_rows
from cdp_local.template import REPO_ROOT

SECRET = b"shop-secret"
SAMPLES = REPO_ROOT / "events" / "shopify"
LINEAGE = Lineage("shopify/demo.myshopify.com", "wh-1", 0)


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def _sign(body: bytes, secret: bytes = SECRET) -> str:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def test_only_the_hmac_of_the_raw_body_under_the_shop_secret_is_valid() -> None:
    # Given
    body = b'{"id": 1}'
    # When / Then
    assert signature_is_valid(body, _sign(body), SECRET)
    assert not signature_is_valid(b'{"id": 2}', _sign(body), SECRET)
    assert not signature_is_valid(body, _sign(body, b"other secret"), SECRET)
    assert not signature_is_valid(body, None, SECRET)
    assert not signature_is_valid(body, "not base64 !", SECRET)
    assert not signature_is_valid(body, hmac.new(SECRET, body, hashlib.sha256).hexdigest(), SECRET)


def test_an_order_gives_one_orders_row_per_line_item() -> None:
    # When
    rows = webhook_rows("orders/create", _sample("orders_create"), LINEAGE, "GB")
    # Then
    assert [(r["order_id"], r["line_id"], r["quantity"], r["line_amount"]) for r in rows.orders] == [
        ("820982911946154508", "866550311766439020", 1, Decimal("199.00")),
        ("820982911946154508", "141249953214522974", 2, Decimal("19.00")),
    ]
    first = rows.orders[0]
    assert (first["customer_id"], first["email"], first["status"], first["country"]) == (
        "115310627314723954", "jon@example.com", "completed", "US",
    )  # fmt: skip
    assert first["ordered_at"] == datetime(2026, 11, 22, 17, tzinfo=UTC)
    assert rows.orders[1]["category"] is None and rows.events == [] and rows.customers == []


@pytest.mark.parametrize(
    ("changes", "status"),
    [({"cancelled_at": "2026-11-23T00:00:00Z"}, "cancelled"), ({"financial_status": "refunded"}, "refunded"),
     ({"financial_status": "pending"}, "pending")],
)  # fmt: skip
def test_an_updated_order_carries_its_status(changes: dict, status: str) -> None:
    # When
    rows = webhook_rows("orders/updated", {**_sample("orders_create"), **changes}, LINEAGE, "GB")
    # Then
    assert {r["status"] for r in rows.orders} == {status}


def test_a_new_customer_carries_marketing_consent_from_the_consent_objects() -> None:
    # When
    customer = webhook_rows("customers/create", _sample("customers_create"), LINEAGE, "GB").customers[0]
    # Then
    assert (customer["customer_id"], customer["email"], customer["phone"]) == (
        "706405506930370084", "bob@example.com", "+16136120707",
    )  # fmt: skip
    assert (customer["email_consent"], customer["sms_consent"], customer["country"]) == (True, False, "CA")
    assert customer["signup_at"] == datetime(2026, 11, 22, 14, tzinfo=UTC)


def test_a_checkout_becomes_a_checkout_started_event_and_a_checkout_updated_domain_event() -> None:
    # Given
    rows = webhook_rows("checkouts/update", _sample("checkouts_update"), LINEAGE, "GB")
    # When
    events = checkout_updated(rows, "profile-1", "demo.myshopify.com")
    # Then
    event = rows.events[0]
    assert (event["event"], event["customer_id"], event["email"]) == (
        "Checkout Started", "706405506930370084", "bob@example.com",
    )  # fmt: skip
    assert json.loads(event["properties"])["products"][0]["sku"] == "IPOD-342"
    assert rows.links == [[("customer_id", "706405506930370084"), ("email", "bob@example.com")]]
    assert (events[0].detail_type, events[0].detail["profile_id"]) == ("Checkout Updated", "profile-1")
    assert events[0].detail["abandoned_checkout_url"].startswith("https://shop.example.com/")
    assert checkout_updated(rows, None, "demo.myshopify.com") == []


def test_a_payload_missing_what_is_read_is_a_field_level_error() -> None:
    # When
    with pytest.raises(InvalidCall) as raised:
        webhook_rows("orders/create", {"id": 1, "line_items": [{"quantity": "many", "price": "1"}]}, LINEAGE, "GB")
    # Then
    assert {"created_at", "currency", "line_items.0.quantity"} <= {e["field"] for e in raised.value.errors}
