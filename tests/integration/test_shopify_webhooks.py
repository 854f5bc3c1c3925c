"""Shopify webhooks through the local HTTP stage: signatures, each topic read, duplicates and ignored topics."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import subprocess
from typing import Any

import pytest
from cdp_local.__main__ import main
from cdp_local.runner import DEMO_SHOP, DEMO_SHOP_SECRET, http_api, register_demo_shop
from cdp_local.stack import LocalStack
from cdp_local.template import REPO_ROOT

from tests.integration.shopify_shop import shopify_signature

SHOP = DEMO_SHOP
SAMPLES = REPO_ROOT / "events" / "shopify"


def _sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.json").read_bytes()


@pytest.fixture
def api(stack: LocalStack):
    register_demo_shop(stack)
    return http_api(stack)


def _deliver(
    api, topic: str, body: bytes, webhook_id: str | None = "wh-1", signature: str | None = "sign", **extra: str
):
    headers = {"host": "localhost", "content-type": "application/json", "x-shopify-topic": topic,
               "x-shopify-shop-domain": SHOP, **extra}  # fmt: skip
    if webhook_id is not None:
        headers["x-shopify-webhook-id"] = webhook_id
    if signature is not None:
        headers["x-shopify-hmac-sha256"] = shopify_signature(body) if signature == "sign" else signature
    return api.handle("POST", "/v1/webhooks/shopify", headers, body)


def _items(stack: LocalStack, table: str, prefix: str) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.physical_id(table))["Items"]
    return [item for item in items if item["pk"]["S"].startswith(prefix)]


def _changed_items(stack: LocalStack) -> int:
    return sum(
        stack.client("dynamodb").scan(TableName=stack.physical_id(table), Select="COUNT")["Count"]
        for table in ("ProfilesTable", "LedgerTable")
    )


@pytest.mark.parametrize(
    ("signature", "shop"),
    [(None, SHOP), ("AAAA", SHOP), (shopify_signature(b"{}"), SHOP), (shopify_signature(b"x", "wrong"), SHOP),
     ("sign", "unknown.myshopify.com")],
)  # fmt: skip
def test_an_unsigned_mis_signed_or_unknown_shops_webhook_is_401_and_changes_nothing(
    stack: LocalStack, api, signature: str | None, shop: str
) -> None:
    # Given
    before = _changed_items(stack)
    # When
    response = _deliver(api, "orders/create", _sample("orders_create"), signature=signature,
                        **{"x-shopify-shop-domain": shop})  # fmt: skip
    # Then
    assert response.status == 401
    assert _changed_items(stack) == before


def test_an_order_is_applied_once_per_webhook_id(stack: LocalStack, api) -> None:
    # Given
    body = _sample("orders_create")
    # When
    first = _deliver(api, "orders/create", body)
    again = _deliver(api, "orders/create", body)
    # Then
    assert (first.status, json.loads(first.body)) == (200, {"success": True, "outcome": "applied"})
    assert (again.status, json.loads(again.body)) == (200, {"success": True, "outcome": "duplicate"})
    assert [i["pk"]["S"] for i in _items(stack, "LedgerTable", "MESSAGEID#")] == [f"MESSAGEID#shopify:{SHOP}#wh-1"]
    assert len(_items(stack, "ProfilesTable", "IDENTITY#customer_id#115310627314723954")) == 1


def test_an_updated_order_and_a_new_customer_are_applied(stack: LocalStack, api) -> None:
    # When
    updated = _deliver(api, "orders/updated", _sample("orders_create"), "wh-2")
    customer = _deliver(api, "customers/create", _sample("customers_create"), "wh-3")
    # Then
    assert (updated.status, customer.status) == (200, 200)
    assert len(_items(stack, "ProfilesTable", "IDENTITY#email#bob@example.com")) == 1


def test_a_checkout_update_publishes_checkout_updated_with_the_recovery_url(stack: LocalStack, api) -> None:
    # Given: a rule capturing the bus's Checkout Updated events into a queue
    queue_url = stack.client("sqs").create_queue(QueueName="checkouts")["QueueUrl"]
    queue_arn = stack.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]  # fmt: skip
    bus = f"{stack.stack_name}-customer-events"
    events = stack.client("events")
    events.put_rule(Name="checkouts", EventBusName=bus, EventPattern=json.dumps({"detail-type": ["Checkout Updated"]}))
    events.put_targets(Rule="checkouts", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    # When
    response = _deliver(api, "checkouts/update", _sample("checkouts_update"), "wh-4")
    # Then
    assert response.status == 200
    messages = stack.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    detail = json.loads(messages[0]["Body"])["detail"]
    profile_id = _items(stack, "ProfilesTable", "IDENTITY#customer_id#706405506930370084")[0]["profile_id"]["S"]
    assert detail["profile_id"] == profile_id
    assert detail["abandoned_checkout_url"] == "https://shop.example.com/123/checkouts/123123123/recover?key=abc"
    assert detail["products"][0]["quantity"] == 2


def test_an_unknown_topic_is_acknowledged_and_ignored(stack: LocalStack, api) -> None:
    # Given
    before = _changed_items(stack)
    # When
    response = _deliver(api, "products/update", b'{"id": 1}')
    # Then
    assert (response.status, json.loads(response.body)["outcome"]) == (200, "ignored")
    assert _changed_items(stack) == before


def test_a_payload_or_headers_without_what_is_read_is_400_with_fields(stack: LocalStack, api) -> None:
    # When
    response = _deliver(api, "orders/create", b'{"id": 1, "line_items": []}', "wh-5")
    without_id = _deliver(api, "orders/create", _sample("orders_create"), webhook_id=None)
    # Then
    assert response.status == 400
    assert {"created_at", "currency"} <= {field["field"] for field in json.loads(response.body)["fields"]}
    assert without_id.status == 400
    assert [field["field"] for field in json.loads(without_id.body)["fields"]] == ["header.x-shopify-webhook-id"]
    assert _items(stack, "LedgerTable", "MESSAGEID#") == []


def test_make_api_registers_the_demo_shop_so_a_sample_signed_with_openssl_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: a sample webhook signed as docs/tracking-api.md shows (openssl dgst -sha256 -hmac SECRET -binary FILE | base64)
    sample = SAMPLES / "orders_create.json"
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", DEMO_SHOP_SECRET, "-binary", str(sample)],
                            capture_output=True, check=True).stdout  # fmt: skip
    headers = {"host": "localhost", "content-type": "application/json", "x-shopify-topic": "orders/create",
               "x-shopify-shop-domain": DEMO_SHOP, "x-shopify-webhook-id": "sample-1",
               "x-shopify-hmac-sha256": base64.b64encode(digest).decode()}  # fmt: skip
    answers = []
    monkeypatch.setattr(
        "cdp_local.http_api.serve",
        lambda api, host, port: answers.append(api.handle("POST", "/v1/webhooks/shopify", headers, sample.read_bytes())),
    )
    # When: `make api` starts (its server answers that one request); a buffer that outlives the test takes its output
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        main(["api", "--port", "0"])
    # Then: the shop and secret are printed at start and the signed sample is applied
    assert f"shop {DEMO_SHOP}, secret {DEMO_SHOP_SECRET}" in output.getvalue()
    assert (answers[0].status, json.loads(answers[0].body)) == (200, {"success": True, "outcome": "applied"})
