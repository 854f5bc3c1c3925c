"""The tracking routes through the template-driven local stack answer hostile or unusual input with a 4xx or a
per-index rejection, never a 5xx: anonymous identify, deep JSON, huge numbers, skew overflow, NaN, and the wire
shape of the RudderStack Python SDK."""

from __future__ import annotations

import decimal
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cdp.records import apply as profile_apply
from cdp_local.runner import basic_authorization, create_local_source, http_api
from cdp_local.stack import LocalStack


@pytest.fixture
def api_and_key(stack: LocalStack):
    return http_api(stack), create_local_source(stack)


def _post(api, body: bytes | dict, write_key: str, path: str = "/v1/batch", **headers: str):
    sent = {"content-type": "application/json", "host": "localhost", "authorization": basic_authorization(write_key), **headers}
    return api.handle("POST", path, sent, body if isinstance(body, bytes) else json.dumps(body).encode())


def _answer(response) -> dict[str, Any]:
    return json.loads(response.body)


def _owners(stack: LocalStack) -> dict[str, str]:
    items = stack.client("dynamodb").scan(TableName=stack.physical_id("ProfilesTable"))["Items"]
    return {item["pk"]["S"]: item["profile_id"]["S"] for item in items if item["pk"]["S"].startswith("IDENTITY#")}


def _record(stack: LocalStack, pk: str) -> dict[str, Any]:
    key = {"pk": {"S": pk}, "sk": {"S": "RECORD"}}
    return stack.client("dynamodb").get_item(TableName=stack.physical_id("LedgerTable"), Key=key)["Item"]


def _profile(stack: LocalStack, profile_id: str) -> dict[str, Any]:
    key = {"pk": {"S": f"PROFILE#{profile_id}"}, "sk": {"S": "PROFILE"}}
    return stack.client("dynamodb").get_item(TableName=stack.physical_id("ProfilesTable"), Key=key)["Item"]


def test_an_anonymous_identify_lands_on_the_visitor_profile_and_links_on_login(stack: LocalStack, api_and_key) -> None:
    # Given: a browser visitor identified before login, with traits
    api, write_key = api_and_key
    before_login = {"anonymousId": "anon-7", "traits": {"email": "Visitor@Example.com", "firstName": "Vi"}}
    # When
    anonymous = _post(api, before_login, write_key, "/v1/identify")
    # Then: the traits are on the anonymous visitor's profile, findable by email
    assert (anonymous.status, _answer(anonymous)) == (200, {"success": True})
    owners = _owners(stack)
    visitor = owners["IDENTITY#anonymous_id#anon-7"]
    assert owners["IDENTITY#email#visitor@example.com"] == visitor
    assert _profile(stack, visitor)["first_name"]["S"] == "Vi"
    # When: the visitor logs in (identify with both ids)
    login = _post(api, {"userId": "C-7", "anonymousId": "anon-7", "traits": {"lastName": "Sitor"}}, write_key,
                  "/v1/identify")  # fmt: skip
    # Then: one profile holds the visitor's and the customer's identifiers
    assert login.status == 200
    owners = _owners(stack)
    assert owners["IDENTITY#customer_id#C-7"] == owners["IDENTITY#anonymous_id#anon-7"]
    assert owners["IDENTITY#email#visitor@example.com"] == owners["IDENTITY#customer_id#C-7"]


def test_an_anonymous_identify_in_a_batch_is_accepted_with_the_others(api_and_key) -> None:
    # Given
    api, write_key = api_and_key
    batch = {"batch": [
        {"type": "identify", "anonymousId": "anon-1"},
        {"type": "identify", "anonymousId": "anon-2", "traits": {"email": "two@example.com"}},
        {"type": "track", "userId": "C-1", "event": "Product Viewed"},
    ]}  # fmt: skip
    # When
    response = _post(api, batch, write_key)
    # Then
    assert (response.status, _answer(response)["accepted"], _answer(response)["rejected"]) == (200, 3, [])


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("name", "path", "text"),
    [
        ("deep JSON", "/v1/track", '{"userId": "u", "event": "e", "properties": {"x": ' + _nested(10_000) + "}}"),
        ("deep JSON in a batch", "/v1/batch", '{"batch": [{"type": "track", "userId": "u", "event": "e", '
                                              '"properties": {"x": ' + _nested(10_000) + "}}]}"),
        ("JSON over 32 levels", "/v1/track", '{"userId": "u", "event": "e", "properties": {"x": ' + _nested(40) + "}}"),
        ("integer over 4,300 digits", "/v1/track", '{"userId": "u", "event": "e", "properties": {"n": '
                                                   + "9" * 5_000 + "}}"),
        ("NaN", "/v1/track", '{"userId": "u", "event": "e", "properties": {"x": NaN}}'),
        ("Infinity", "/v1/batch", '{"batch": [{"type": "track", "userId": "u", "event": "e", '
                                  '"properties": {"x": -Infinity}}]}'),
    ],
)  # fmt: skip
def test_bodies_that_are_not_acceptable_json_get_a_400(api_and_key, name: str, path: str, text: str) -> None:
    # Given
    api, write_key = api_and_key
    # When
    plain = _post(api, text.encode(), write_key, path)
    zipped = _post(api, gzip.compress(text.encode()), write_key, path, **{"content-encoding": "gzip"})
    # Then
    assert (plain.status, zipped.status) == (400, 400), name
    assert _answer(plain)["success"] is False


def test_calls_with_unusable_content_are_rejected_by_index_and_the_others_accepted(stack: LocalStack, api_and_key):
    # Given: a skew correction past year 9999, an order total DynamoDB cannot hold, an order id too long for a key,
    # a quantity of 40 digits, a price with 48 decimals (rounded, accepted) and a good call
    api, write_key = api_and_key
    now = datetime.now(UTC).isoformat()
    batch = {"batch": [
        {"type": "track", "userId": "u", "event": "e", "timestamp": "9999-12-31T23:59:59Z", "sentAt": "0001-01-01T00:00:00Z"},
        {"type": "track", "userId": "u", "event": "Order Completed", "properties": {"order_id": "O1", "total": 1e300}},
        {"type": "track", "userId": "u", "event": "Order Completed", "properties": {"order_id": "O" * 5_000}},
        {"type": "track", "userId": "u", "event": "Order Completed",
         "properties": {"order_id": "O3", "products": [{"sku": "S", "price": 10, "quantity": 10 ** 40}]}},
        {"type": "track", "userId": "u", "event": "Order Completed",
         "properties": {"order_id": "O4", "products": [{"sku": "S", "price": "1." + "3" * 48}]}},
        {"type": "track", "userId": "u", "event": "Product Viewed", "timestamp": now},
    ], "sentAt": now}  # fmt: skip
    # When
    response = _post(api, batch, write_key)
    # Then
    answer = _answer(response)
    assert response.status == 200
    assert answer["accepted"] == 2
    assert [rejection["index"] for rejection in answer["rejected"]] == [0, 1, 2, 3]
    assert _record(stack, "RECORD#orders#O4#S")["record"]["M"]["line_amount"]["N"] == "1.333333"


def test_a_call_the_store_cannot_apply_is_rejected_by_index_and_the_batch_is_kept(
    stack: LocalStack, api_and_key, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: the profile store refuses one call's record as content it cannot hold
    api, write_key = api_and_key
    record_of = profile_apply.record_of

    def refusing(entity: str, row: dict[str, Any], now: datetime) -> dict[str, Any]:
        if str(row.get("event_id", "")).endswith(":poison"):
            raise decimal.Overflow("number too large for the store")
        return record_of(entity, row, now)

    monkeypatch.setattr(profile_apply, "record_of", refusing)
    batch = {"batch": [
        {"type": "track", "messageId": "good-1", "userId": "u", "event": "Product Viewed"},
        {"type": "track", "messageId": "poison", "userId": "u", "event": "Product Viewed"},
        {"type": "identify", "messageId": "good-2", "anonymousId": "anon-9", "traits": {"email": "n@example.com"}},
    ]}  # fmt: skip
    # When
    response = _post(api, batch, write_key)
    # Then: the two good calls are applied, the refused one is reported by its index and can be retried
    answer = _answer(response)
    assert (response.status, answer["accepted"]) == (200, 2)
    assert [rejection["index"] for rejection in answer["rejected"]] == [1]
    assert _record(stack, "RECORD#events#local-demo:good-1")
    assert "IDENTITY#email#n@example.com" in _owners(stack)
    monkeypatch.setattr(profile_apply, "record_of", record_of)
    assert _answer(_post(api, batch, write_key))["duplicates"] == [0, 2]


def test_a_skew_overflow_on_a_single_call_is_a_400(api_and_key) -> None:
    # Given
    api, write_key = api_and_key
    call = {"userId": "u", "event": "e", "timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T23:59:59Z"}
    # When
    response = _post(api, call, write_key, "/v1/track")
    # Then
    assert response.status == 400
    assert _answer(response)["fields"][0]["field"] == "timestamp"


def test_the_rudderstack_python_sdk_identify_traits_reach_the_profile(stack: LocalStack, api_and_key) -> None:
    # Given: the batch rudder-sdk-python posts for `identify(user_id, traits)`: traits inside `context.traits`,
    # none at the root, gzip-encoded, `sentAt` on the batch, `channel` and default integrations
    api, write_key = api_and_key
    sent_at = datetime.now(UTC).isoformat()
    message = {
        "integrations": {"All": True},
        "timestamp": sent_at,
        "context": {"traits": {"email": "Rudder@Example.com", "firstName": "Rudy"},
                    "library": {"name": "analytics-python", "version": "2.1.0"}},
        "type": "identify",
        "userId": "R-1",
        "messageId": "7b0a1f7e-2f0c-4d7e-9a43-5b0f1f1b2f11",
        "channel": "server",
    }  # fmt: skip
    body = gzip.compress(json.dumps({"batch": [message], "sentAt": sent_at}).encode())
    # When
    response = _post(api, body, write_key, **{"content-encoding": "gzip", "user-agent": "analytics-python/2.1.0"})
    # Then: the profile is findable by email and carries the first name
    assert (response.status, _answer(response)["accepted"]) == (200, 1)
    owners = _owners(stack)
    assert owners["IDENTITY#email#rudder@example.com"] == owners["IDENTITY#customer_id#R-1"]
    assert _profile(stack, owners["IDENTITY#customer_id#R-1"])["first_name"]["S"] == "Rudy"
