"""Segment calls: validation with field-level errors, clock-skew correction, canonical rows, gzip bodies."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cdp.tracking.http_body import BadBody, decoded_body, raw_body
from cdp.tracking.messages import InvalidCall, TrackCall, parse_call
from cdp.tracking.rows import CUSTOMER_COLUMNS, EVENT_COLUMNS, Lineage, call_rows

RECEIVED_AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LINEAGE = Lineage("http/web", "m1", 0)


def _parse(raw: dict):
    return parse_call(raw)


def test_clock_skew_is_corrected_from_sent_at() -> None:
    # Given: a device whose clock runs 10 minutes ahead, sending an event it stamped a minute before sending
    call = TrackCall.model_validate({
        "userId": "u1", "event": "Product Viewed",
        "timestamp": "2026-11-23T10:09:00Z", "sentAt": "2026-11-23T10:10:00Z",
    })  # fmt: skip
    # When
    occurred_at = call.occurred_at(RECEIVED_AT)
    # Then: timestamp + (receivedAt - sentAt)
    assert occurred_at == datetime(2026, 11, 23, 9, 59, tzinfo=UTC)


def test_batch_sent_at_applies_when_the_call_has_none_and_no_timestamp_means_received_at() -> None:
    # Given
    stamped = TrackCall.model_validate({"userId": "u1", "event": "E", "timestamp": "2026-11-23T11:00:00+01:00"})
    unstamped = TrackCall.model_validate({"userId": "u1", "event": "E"})
    # When
    corrected = stamped.occurred_at(RECEIVED_AT, batch_sent_at=datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC))
    # Then
    assert corrected == RECEIVED_AT - timedelta(seconds=30)
    assert unstamped.occurred_at(RECEIVED_AT) == RECEIVED_AT


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "track", "event": "E"}, ""),  # no identity
        ({"type": "track", "userId": "u1"}, "event"),
        ({"type": "track", "userId": 12, "event": "E"}, "userId"),
        ({"type": "identify", "userId": "u1", "traits": {"email": 5}}, "traits.email"),
        ({"type": "identify", "userId": "u1", "traits": {"email_consent": "perhaps"}}, "traits.email_consent"),
        ({"type": "track", "userId": "u1", "event": "E", "timestamp": "yesterday"}, "timestamp"),
        ({"type": "track", "userId": "u1", "event": "E", "messageId": "x" * 100}, "messageId"),
        ({"type": "alias", "userId": "u1"}, "previousId"),
    ],
)
def test_wrong_calls_give_field_level_errors(raw: dict, field: str) -> None:
    # When
    with pytest.raises(InvalidCall) as raised:
        _parse(raw)
    # Then
    assert field in [error["field"] for error in raised.value.errors]


def test_an_identify_becomes_a_customers_row_and_an_events_row_and_links_its_ids() -> None:
    # Given
    call = _parse({
        "type": "identify", "messageId": "m1", "userId": "C1", "anonymousId": "a-1",
        "context": {"locale": "fr-FR", "timezone": "Europe/Paris"},
        "traits": {"email": " Ada@Example.COM ", "phone": "+33 6 12 34 56 78", "firstName": "Ada", "gender": "Female",
                   "createdAt": "2026-11-20T08:00:00Z", "email_consent": True, "address": {"country": "fr"}},
    })  # fmt: skip
    # When
    rows = call_rows(call, "web", RECEIVED_AT, LINEAGE, "GB")
    # Then
    customer = rows.customers[0]
    assert set(customer) == {*CUSTOMER_COLUMNS, "source_key", "source_version", "source_line"}
    assert (customer["customer_id"], customer["email"], customer["phone"]) == ("C1", "ada@example.com", "+33612345678")
    assert (customer["gender"], customer["country"], customer["language"]) == ("female", "FR", "fr-FR")
    assert customer["signup_at"] == datetime(2026, 11, 20, 8, tzinfo=UTC) and customer["email_consent"] is True
    assert set(rows.events[0]) == {*EVENT_COLUMNS, "source_key", "source_version", "source_line"}
    assert (rows.events[0]["event_id"], rows.events[0]["event"]) == ("web:m1", "Identify")
    assert rows.links == [[("customer_id", "C1"), ("anonymous_id", "a-1")]]


def test_order_completed_gives_one_orders_row_per_product() -> None:
    # Given
    call = _parse({
        "type": "track", "messageId": "m2", "userId": "C1", "event": "Order Completed",
        "properties": {"order_id": "O-9", "currency": "eur", "products": [
            {"product_id": "P1", "sku": "S1", "name": "Mug", "price": 12.5, "quantity": 2, "category": "home"},
            {"sku": "S2", "price": "3.10"},
        ]},
    })  # fmt: skip
    # When
    orders = call_rows(call, "web", RECEIVED_AT, LINEAGE, "GB").orders
    # Then
    assert [(o["order_id"], o["line_id"], o["quantity"], o["line_amount"]) for o in orders] == [
        ("O-9", "P1", 2, Decimal("25.0")),
        ("O-9", "S2", 1, Decimal("3.10")),
    ]
    assert {o["currency"] for o in orders} == {"EUR"} and {o["ordered_at"] for o in orders} == {RECEIVED_AT}


def test_an_order_completed_with_unusable_products_is_a_field_level_error() -> None:
    # Given
    call = _parse({"type": "track", "userId": "C1", "event": "Order Completed",
                   "properties": {"order_id": "O-9", "products": [{"price": "free"}]}})  # fmt: skip
    # When
    with pytest.raises(InvalidCall) as raised:
        call_rows(call, "web", RECEIVED_AT, LINEAGE, "GB")
    # Then
    assert [error["field"] for error in raised.value.errors] == ["properties.products.0.price"]


def test_alias_links_the_previous_anonymous_id_to_the_user() -> None:
    # Given
    call = _parse({"type": "alias", "userId": "C1", "previousId": "anon-7"})
    # When
    rows = call_rows(call, "web", RECEIVED_AT, LINEAGE, "GB")
    # Then
    assert rows.links == [[("customer_id", "C1"), ("anonymous_id", "anon-7")]]
    assert json.loads(rows.events[0]["properties"]) == {"previous_id": "anon-7"}


@pytest.mark.parametrize(
    ("traits", "expected"),
    [({"phone": "+44 20 7946 0958"}, "+442079460958"), ({"phone": "020 7946 0958"}, "+442079460958"),
     ({"phone": "06 12 34 56 78", "address": {"country": "FR"}}, "+33612345678"), ({"phone": "555"}, None)],
)  # fmt: skip
def test_phones_are_read_as_files_read_them(traits: dict[str, object], expected: str | None) -> None:
    # Given: national numbers are read in the address's country, else the deployment's default region
    call = _parse({"type": "identify", "userId": "C1", "traits": {"email": " Ann@Bücher.DE ", **traits}})
    # When
    customer = call_rows(call, "web", RECEIVED_AT, LINEAGE, "GB").customers[0]
    # Then
    assert (customer["phone"], customer["email"]) == (expected, "ann@xn--bcher-kva.de")


def test_gzip_bodies_are_inflated_within_the_limit_only() -> None:
    # Given
    body = json.dumps({"batch": [{"type": "track"}]}).encode()
    bomb = gzip.compress(b"{" + b" " * 2_000_000 + b"}")
    # When / Then
    assert decoded_body(gzip.compress(body), "gzip", 1024) == body
    assert decoded_body(body, None, 1024) == body
    with pytest.raises(BadBody, match="larger than 500 KB"):
        decoded_body(bomb, "gzip", 500 * 1024)
    with pytest.raises(BadBody, match="not valid gzip"):
        decoded_body(b"\x1f\x8b\x08garbage", "gzip", 1024)
    with pytest.raises(BadBody, match="not valid gzip"):
        decoded_body(gzip.compress(body)[:-12], "gzip", 1024)
    with pytest.raises(BadBody, match="unsupported Content-Encoding"):
        decoded_body(body, "br", 1024)
    with pytest.raises(BadBody, match="base64"):
        raw_body("not base64!", True)
