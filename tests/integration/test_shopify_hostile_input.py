"""Shopify webhooks through the local HTTP stage answer hostile bodies with a 400 and unknown shops cheaply:
deep JSON, NaN, over-long integers and out-of-range amounts in signed bodies; the shop secret read once per TTL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cdp.adapters.clients import client
from cdp.adapters.sources import forget_shop_secrets
from cdp_local.runner import DEMO_SHOP, http_api, register_demo_shop
from cdp_local.stack import LocalStack
from cdp_local.template import REPO_ROOT

from tests.integration.shopify_shop import shopify_signature


@pytest.fixture
def api(stack: LocalStack):
    register_demo_shop(stack)
    return http_api(stack)


def _deliver(api, topic: str, body: bytes, shop: str = DEMO_SHOP, webhook_id: str = "wh-1"):
    headers = {"host": "localhost", "content-type": "application/json", "x-shopify-topic": topic,
               "x-shopify-shop-domain": shop, "x-shopify-webhook-id": webhook_id,
               "x-shopify-hmac-sha256": shopify_signature(body)}  # fmt: skip
    return api.handle("POST", "/v1/webhooks/shopify", headers, body)


def _sample_order() -> bytes:
    return (REPO_ROOT / "events" / "shopify" / "orders_create.json").read_bytes()


ORDER = '{"id": 1, "created_at": "2026-01-01T00:00:00Z", "currency": "EUR", "email": "a@example.com", '


@pytest.mark.parametrize(
    ("name", "topic", "text"),
    [
        ("deep JSON", "orders/create", '{"note": ' + "[" * 10_000 + "]" * 10_000 + "}"),
        ("deep JSON, privacy topic", "customers/redact", "[" * 10_000 + "]" * 10_000),
        ("NaN", "orders/create", ORDER + '"line_items": [{"quantity": 1, "price": NaN}]}'),
        ("integer over 4,300 digits", "orders/create", ORDER + '"line_items": [{"quantity": ' + "9" * 5_000 + "}]}"),
        ("amount over a trillion", "orders/create", ORDER + '"line_items": [{"quantity": 1, "price": "1e300"}]}'),
    ],
)  # fmt: skip
def test_signed_bodies_that_are_not_acceptable_json_get_a_400(api, name: str, topic: str, text: str) -> None:
    # When
    response = _deliver(api, topic, text.encode())
    # Then
    assert response.status == 400, name
    assert json.loads(response.body)["success"] is False


@pytest.fixture
def ssm_calls(api):
    """The SSM operations the tracking function sends, counted through botocore's event hooks."""
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    ssm = client("ssm")
    ssm.meta.events.register("before-call.ssm.*", count)
    yield calls
    ssm.meta.events.unregister("before-call.ssm.*", count)


def test_the_shop_secrets_are_read_once_per_ttl_and_unknown_shops_cost_no_ssm_request(api, ssm_calls) -> None:
    # Given
    order = _sample_order()
    # When: three webhooks of the known shop, then a flood of unknown and malformed shop domains
    known = [_deliver(api, "orders/create", order, webhook_id=f"wh-{n}").status for n in range(3)]
    unknown = [_deliver(api, "orders/create", order, shop=shop).status
               for shop in ("unknown.myshopify.com", "x" * 300, "../../etc", "other.example.com")]  # fmt: skip
    # Then
    assert (known, unknown) == ([200, 200, 200], [401, 401, 401, 401])
    assert ssm_calls[:1] == ["GetParametersByPath"], ssm_calls
    assert "GetParametersByPath" not in ssm_calls[1:], ssm_calls


def test_ssm_throttling_is_a_retryable_503(api, ssm_calls) -> None:
    # Given: SSM throttles every request
    def throttled(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetParametersByPath")

    forget_shop_secrets()
    client("ssm").meta.events.register_first("before-call.ssm.GetParametersByPath", throttled)
    try:
        # When
        response = _deliver(api, "orders/create", _sample_order())
    finally:
        client("ssm").meta.events.unregister("before-call.ssm.GetParametersByPath", throttled)
    # Then
    assert response.status == 503
    assert {name.lower(): value for name, value in response.headers.items()}["retry-after"] == "30"
