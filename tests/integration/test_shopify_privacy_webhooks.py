"""Shopify's mandatory privacy webhooks through the local HTTP stage: customers/redact, customers/data_request and
shop/redact acted on, signed and replayed, for known and unknown customers, and hostile payloads refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp.adapters.sources import shop_secret
from cdp_local.runner import DEMO_SHOP, DEMO_SHOP_SECRET, http_api, register_demo_shop
from cdp_local.stack import LocalStack
from cdp_local.template import REPO_ROOT

from tests.integration.shopify_shop import shopify_signature

SHOP = DEMO_SHOP
SAMPLES = REPO_ROOT / "events" / "shopify"
BOB = {"id": 706405506930370084, "email": "bob@example.com", "phone": "+16136120707"}
JON = {"id": 115310627314723954, "email": "jon@example.com", "phone": None}


@pytest.fixture
def api(stack: LocalStack):
    register_demo_shop(stack)
    return http_api(stack)


def _deliver(api, topic: str, payload: Any, webhook_id: str, signature: str | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"host": "localhost", "content-type": "application/json", "x-shopify-topic": topic,
               "x-shopify-shop-domain": SHOP, "x-shopify-webhook-id": webhook_id,
               "x-shopify-hmac-sha256": signature or shopify_signature(body)}  # fmt: skip
    return api.handle("POST", "/v1/webhooks/shopify", headers, body)


def _redact(customer: dict[str, Any], shop: str = SHOP) -> dict[str, Any]:
    return {"shop_id": 954889, "shop_domain": shop, "customer": customer, "orders_to_redact": [299938]}


def _data_request(customer: dict[str, Any], request_id: int = 9999) -> dict[str, Any]:
    return {"shop_id": 954889, "shop_domain": SHOP, "customer": customer, "orders_requested": [299938],
            "data_request": {"id": request_id}}  # fmt: skip


def _scan(stack: LocalStack, table: str) -> list[dict[str, Any]]:
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.physical_id(table))
    return [item for page in pages for item in page["Items"]]


def _keys(stack: LocalStack, table: str, prefix: str) -> list[str]:
    return sorted(item["pk"]["S"] for item in _scan(stack, table) if item["pk"]["S"].startswith(prefix))


def _export_versions(stack: LocalStack) -> list[dict[str, Any]]:
    response = stack.client("s3").list_object_versions(Bucket=stack.physical_id("PrivacyExportsBucket"))
    return response.get("Versions", []) + response.get("DeleteMarkers", [])


def _export(stack: LocalStack, key: str) -> dict[str, Any]:
    body = stack.client("s3").get_object(Bucket=stack.physical_id("PrivacyExportsBucket"), Key=key)["Body"].read()
    return json.loads(body)  # type: ignore[no-any-return]


def _outcome(response) -> tuple[int, str | None]:
    return response.status, json.loads(response.body).get("outcome")


@pytest.mark.parametrize("topic", ["customers/redact", "customers/data_request", "shop/redact"])
def test_the_sample_privacy_webhooks_are_applied(stack: LocalStack, api, topic: str) -> None:
    # Given: the sample payload of the topic in events/shopify, as a newcomer would post it to `make api`
    body = (SAMPLES / f"{topic.replace('/', '_')}.json").read_bytes()
    # When
    response = _deliver(api, topic, body, "sample-1")
    # Then
    assert _outcome(response) == (200, "applied")


def test_customers_redact_erases_the_person_once_and_later_webhooks_do_not_bring_them_back(
    stack: LocalStack, api
) -> None:
    # Given: Bob (customers/create) and Jon (orders/create) from the shop
    assert _deliver(api, "customers/create", (SAMPLES / "customers_create.json").read_bytes(), "wh-1").status == 200
    assert _deliver(api, "orders/create", (SAMPLES / "orders_create.json").read_bytes(), "wh-2").status == 200
    # When: the shop asks to redact Bob (by id, email in other case and phone), then replays the webhook
    first = _deliver(api, "customers/redact", _redact({**BOB, "email": "Bob@Example.com"}), "wh-3")
    replay = _deliver(api, "customers/redact", _redact({**BOB, "email": "Bob@Example.com"}), "wh-3")
    stack.wait_for_executions(timeout=30)
    # Then: applied once, the replay a duplicate; Bob has no identity, profile or record left; Jon is intact
    assert (_outcome(first), _outcome(replay)) == ((200, "applied"), (200, "duplicate"))
    assert _keys(stack, "ProfilesTable", "IDENTITY#") == [f"IDENTITY#customer_id#{JON['id']}", "IDENTITY#email#jon@example.com"]
    assert sum(item["sk"]["S"] == "PROFILE" for item in _scan(stack, "ProfilesTable")) == 1
    assert [item for item in _scan(stack, "ProfilesTable") + _scan(stack, "LedgerTable")
            if "bob@example.com" in json.dumps(item).lower() or "6136120707" in json.dumps(item)] == []  # fmt: skip
    erasures = [item for item in _scan(stack, "ProfilesTable") if item["pk"]["S"].startswith("ERASURE#")]
    assert [(e["status"]["S"], e["deleted"]["M"]["identity_items"]["N"]) for e in erasures] == [("completed", "3")]
    # When: the shop sends Bob's customers/create again under a new webhook id
    again = _deliver(api, "customers/create", (SAMPLES / "customers_create.json").read_bytes(), "wh-4")
    # Then: acknowledged, but nothing of Bob is stored
    assert again.status == 200
    assert _keys(stack, "ProfilesTable", "IDENTITY#") == [f"IDENTITY#customer_id#{JON['id']}", "IDENTITY#email#jon@example.com"]


def test_customers_redact_of_an_unknown_customer_registers_them_erased(stack: LocalStack, api) -> None:
    # When: a redact for a customer the platform never saw
    response = _deliver(api, "customers/redact", _redact(BOB), "wh-1")
    stack.wait_for_executions(timeout=30)
    # Then: one erasure without a profile, three erased identifiers; a later customers/create of theirs is dropped
    assert _outcome(response) == (200, "applied")
    erasures = [item for item in _scan(stack, "ProfilesTable") if item["pk"]["S"].startswith("ERASURE#")]
    assert [("profile_id" in e, e["status"]["S"]) for e in erasures] == [(False, "completed")]
    assert sum(item["pk"]["S"] == "ERASED" for item in _scan(stack, "ProfilesTable")) == 3
    assert _deliver(api, "customers/create", (SAMPLES / "customers_create.json").read_bytes(), "wh-2").status == 200
    assert _keys(stack, "ProfilesTable", "IDENTITY#") == []


def test_customers_data_request_writes_the_export_for_the_shop_owner_once(stack: LocalStack, api) -> None:
    # Given: Jon, from an order
    assert _deliver(api, "orders/create", (SAMPLES / "orders_create.json").read_bytes(), "wh-1").status == 200
    # When: the shop asks for Jon's data, replays the request, and asks for an unknown customer's
    first = _deliver(api, "customers/data_request", _data_request(JON, 9999), "wh-2")
    replay = _deliver(api, "customers/data_request", _data_request(JON, 9999), "wh-2")
    unknown = _deliver(api, "customers/data_request", _data_request({"email": "nobody@example.com"}, 10000), "wh-3")
    # Then: one export object per request (the replay wrote nothing), with Jon's profile and orders
    assert [_outcome(r) for r in (first, replay, unknown)] == [(200, "applied"), (200, "duplicate"), (200, "applied")]
    assert sorted(v["Key"] for v in _export_versions(stack)) == [
        f"shopify/{SHOP}/data_requests/10000.json", f"shopify/{SHOP}/data_requests/9999.json"]
    jon = _export(stack, f"shopify/{SHOP}/data_requests/9999.json")
    assert (jon["data_request_id"], len(jon["profiles"])) == (9999, 1)
    assert "email#jon@example.com" in jon["profiles"][0]["identifiers"]
    assert {record["order_id"] for record in jon["profiles"][0]["records"]["orders"]} == {"820982911946154508"}
    assert _export(stack, f"shopify/{SHOP}/data_requests/10000.json")["profiles"] == []
    # Then: the records say where the exports are and hold no PII
    records = [item for item in _scan(stack, "ProfilesTable") if item["pk"]["S"] == f"SHOP#{SHOP}"]
    assert sorted((r["sk"]["S"], r["profiles"]["N"]) for r in records) == [("DATAREQUEST#10000", "0"), ("DATAREQUEST#9999", "1")]
    assert "@" not in json.dumps(records)


def test_an_erasure_also_deletes_the_persons_exports(stack: LocalStack, api) -> None:
    # Given: Jon's data was exported for the shop owner
    assert _deliver(api, "orders/create", (SAMPLES / "orders_create.json").read_bytes(), "wh-1").status == 200
    assert _deliver(api, "customers/data_request", _data_request(JON), "wh-2").status == 200
    # When: then the shop asks to redact him
    assert _deliver(api, "customers/redact", _redact(JON), "wh-3").status == 200
    stack.wait_for_executions(timeout=30)
    # Then: no version of his export is left
    assert _export_versions(stack) == []


def test_shop_redact_removes_the_shops_secret_exports_records_and_register(stack: LocalStack, api) -> None:
    # Given: an order and a data request from the shop
    assert _deliver(api, "orders/create", (SAMPLES / "orders_create.json").read_bytes(), "wh-1").status == 200
    assert _deliver(api, "customers/data_request", _data_request(JON), "wh-2").status == 200
    # When: the shop is redacted, then replays that webhook and sends another one
    payload = {"shop_id": 954889, "shop_domain": SHOP}
    response = _deliver(api, "shop/redact", payload, "wh-3")
    replay = _deliver(api, "shop/redact", payload, "wh-3")
    later = _deliver(api, "orders/create", (SAMPLES / "orders_create.json").read_bytes(), "wh-4")
    # Then: exports, records, register items and the secret are gone, so later webhooks are 401; profiles stay
    assert _outcome(response) == (200, "applied")
    assert (replay.status, later.status) == (401, 401)
    assert _export_versions(stack) == []
    assert _keys(stack, "ProfilesTable", "SHOP#") == []
    assert _keys(stack, "LedgerTable", "MESSAGEID#") == []
    assert shop_secret(f"/{stack.stack_name}/shopify/", SHOP) is None
    assert _keys(stack, "ProfilesTable", "IDENTITY#email#jon") == ["IDENTITY#email#jon@example.com"]


@pytest.mark.parametrize(
    ("topic", "payload", "field"),
    [("customers/redact", _redact(BOB, shop="other.myshopify.com"), "shop_domain"),
     ("shop/redact", {"shop_id": 1, "shop_domain": "other.myshopify.com"}, "shop_domain"),
     ("customers/redact", _redact({"email": "null", "phone": "n/a"}), "customer"),
     ("customers/data_request", {"shop_id": 954889, "shop_domain": SHOP, "customer": {"id": 1}}, "data_request"),
     ("customers/redact", b"{not json", "")],
)  # fmt: skip
def test_a_hostile_or_incomplete_privacy_webhook_is_400_and_changes_nothing(
    stack: LocalStack, api, topic: str, payload: Any, field: str
) -> None:
    # Given
    before = (_scan(stack, "ProfilesTable"), _scan(stack, "LedgerTable"))
    # When
    response = _deliver(api, topic, payload, "wh-1")
    # Then
    assert response.status == 400
    assert field in [error["field"] for error in json.loads(response.body)["fields"]]
    assert (_scan(stack, "ProfilesTable"), _scan(stack, "LedgerTable")) == before
    assert shop_secret(f"/{stack.stack_name}/shopify/", SHOP) == DEMO_SHOP_SECRET.encode()


def test_a_mis_signed_privacy_webhook_is_401_and_changes_nothing(stack: LocalStack, api) -> None:
    # Given
    assert _deliver(api, "orders/create", (SAMPLES / "orders_create.json").read_bytes(), "wh-1").status == 200
    stack.wait_for_executions(timeout=30)  # the order's post-purchase journey writes its own records meanwhile
    before = _scan(stack, "ProfilesTable")
    # When
    response = _deliver(api, "customers/redact", _redact(JON), "wh-2", signature=shopify_signature(b"{}"))
    # Then
    assert response.status == 401
    assert _scan(stack, "ProfilesTable") == before
