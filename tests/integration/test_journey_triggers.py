"""Every shipped journey starts from the event that really triggers it, produced by the part of the platform that
produces it (a sign-up in the customers file, a tracked order, the scheduled segment run, a live segment, the loyalty
review), routed by the journey router, and its real ASL runs in moto's Step Functions to its sends.

One small shop, one person per journey, dated relative to now; whether a person is held out is computed with the
same assignment as the router, so a held-out person is checked for no run instead.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdp.journeys.definition import shipped_definitions
from cdp.messaging.assignment import HOLDOUT, assign
from cdp_local.journeys_build import resource_name
from cdp_local.runner import create_local_source, http_api
from cdp_local.stack import ACCOUNT_ID, LocalStack

from tests.integration.privacy_flow import drop, profile_of

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = (NOW - timedelta(days=900)).isoformat()

# journey: (the person it is for, the send steps and their final outcome)
EXPECTED: dict[str, tuple[str, dict[str, str]]] = {
    "welcome": ("J-NEW", {"welcome_email": "sent", "first_order_sms": "sent"}),
    "abandoned_cart": ("J-CART", {"cart_reminder": "sent", "cart_coupon": "sent"}),
    "post_purchase": ("J-BUYER", {"thank_you": "sent", "review_request": "sent", "cross_sell": "sent"}),
    "browse_abandonment": ("J-BROWSER", {"recommendation": "sent"}),
    "win_back": ("J-LAPSED", {"first_offer": "sent", "second_offer": "sent"}),
    "birthday": ("J-BIRTHDAY", {"birthday": "sent"}),
    "points_expiry": ("J-EXPIRING", {"points_reminder": "sent"}),
    "tier_upgrade": ("J-SPENDER", {"congratulation": "sent"}),
    "replenishment": ("J-REGULAR", {"reorder_reminder": "sent"}),
}


def _customers() -> bytes:
    lines = ["customer_id,email,phone,first_name,country,signup_at,email_consent,sms_consent,birthday"]
    for customer_id, _steps in EXPECTED.values():
        signup = NOW.isoformat() if customer_id == "J-NEW" else OLD
        birthday = NOW.date().replace(year=1988).isoformat() if customer_id == "J-BIRTHDAY" else "1980-01-15"
        phone = f"+4477009{abs(hash(customer_id)) % 100000:05d}"
        lines.append(f"{customer_id},{customer_id.lower()}@example.com,{phone},Ann,GB,{signup},true,true,{birthday}")
    return ("\n".join(lines) + "\n").encode()


def _orders() -> bytes:
    """A lapsed buyer (200 days ago), points earned 350 days ago, a member at the entry tier before the journey
    horizon, and a regular reordering serum every 30 days whose next run-out is in three days."""
    lines = ["order_id,line_id,customer_id,ordered_at,currency,sku,category,quantity,unit_price,status"]
    lines.append(f"JO-1,1,J-LAPSED,{(NOW - timedelta(days=200)).isoformat()},GBP,SKU-MUG,home,1,30.00,completed")
    lines.append(f"JO-2,1,J-EXPIRING,{(NOW - timedelta(days=350)).isoformat()},GBP,SKU-MUG,home,1,40.00,completed")
    lines.append(f"JO-3,1,J-SPENDER,{(NOW - timedelta(days=40)).isoformat()},GBP,SKU-MUG,home,1,20.00,completed")
    for n, days_ago in enumerate((147, 117, 87, 57, 27)):
        at = (NOW - timedelta(days=days_ago)).isoformat()
        lines.append(f"JO-R{n},1,J-REGULAR,{at},GBP,SKU-SERUM,beauty,1,20.00,completed")
    return ("\n".join(lines) + "\n").encode()


def _tracking() -> list[dict[str, Any]]:
    """A cart left, an order completed, and one product viewed three times without adding it."""
    product = {"product_id": "P1", "sku": "SKU-TEA", "name": "Green tea", "price": 12.5, "quantity": 1}
    calls = [
        {"type": "track", "userId": "J-CART", "messageId": "j-add", "event": "Product Added",
         "properties": {"cart_id": "cart-j", **product}},
        {"type": "track", "userId": "J-BUYER", "messageId": "j-order", "event": "Order Completed",
         "properties": {"order_id": "JW-1", "total": 25, "currency": "GBP", "products": [product]}},
    ]  # fmt: skip
    calls += [{"type": "track", "userId": "J-BROWSER", "messageId": f"j-view-{n}", "event": "Product Viewed",
               "properties": product} for n in range(3)]  # fmt: skip
    return calls


def _scheduled(stack: LocalStack, function: str) -> Any:
    """Invoke a scheduled function as its EventBridge schedule would."""
    tick = {"version": "0", "id": f"tick-{function}", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT_ID, "time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": stack.region,
            "resources": [], "detail": {}}  # fmt: skip
    return stack.invoke(function, tick)


@pytest.fixture(scope="module")
def shop() -> Iterator[LocalStack]:
    with LocalStack() as stack:
        drop(stack, "customers/journeys.csv", _customers())
        drop(stack, "orders/journeys.csv", _orders())
        authorization = "Basic " + base64.b64encode(f"{create_local_source(stack)}:".encode()).decode()
        answer = http_api(stack).handle(
            "POST", "/v1/batch", {"host": "localhost", "content-type": "application/json", "authorization": authorization},
            json.dumps({"batch": _tracking()}).encode(),
        )  # fmt: skip
        assert answer.status == 200, answer.body
        stack.deliver_queued_messages()
        _scheduled(stack, "ComputeSegmentsFunction")
        _scheduled(stack, "ReviewLoyaltyFunction")
        # the entry-tier member then spends enough for gold: the next review moves them up
        big_order = f"JO-4,1,J-SPENDER,{(NOW - timedelta(days=1)).isoformat()},GBP,SKU-TV,electronics,1,900.00,completed"
        drop(stack, "orders/upgrade.csv", _orders().splitlines(keepends=True)[0] + big_order.encode() + b"\n")
        stack.deliver_queued_messages()
        _scheduled(stack, "ReviewLoyaltyFunction")
        stack.wait_for_executions(timeout=300)
        yield stack


def _final_outcomes(stack: LocalStack, profile_id: str, journey: str) -> dict[str, str]:
    """Each send step's last recorded outcome for the person in this journey (`sent` or `<status>:<reason>`)."""
    items = stack.client("dynamodb").query(
        TableName=stack.physical_id("ProfilesTable"), ConsistentRead=True,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :journey)",
        ExpressionAttributeValues={":pk": {"S": f"PROFILE#{profile_id}"}, ":journey": {"S": f"MESSAGE#journey#{journey}#"}},
    )["Items"]  # fmt: skip
    return {item["sk"]["S"].split("#")[3]: item["status"]["S"] if item["status"]["S"] == "sent"
            else f"{item['status']['S']}:{item['reason']['S']}" for item in items}  # fmt: skip


def test_every_shipped_journey_is_in_the_table() -> None:
    assert sorted(EXPECTED) == sorted(shipped_definitions())


@pytest.mark.parametrize("journey", sorted(EXPECTED))
def test_the_journey_starts_from_its_real_trigger_and_sends(shop: LocalStack, journey: str) -> None:
    # Given the person the shop's data makes eligible, and whether the journey's experiment holds them out
    customer_id, expected = EXPECTED[journey]
    profile_id = profile_of(shop, customer_id)["profile_id"]
    experiment = shipped_definitions()[journey].experiment
    held_out = assign(profile_id, journey, experiment.holdout_percent, experiment.variants) == HOLDOUT
    entry = shop.client("dynamodb").get_item(
        TableName=shop.physical_id("ProfilesTable"), ConsistentRead=True,
        Key={"pk": {"S": f"PROFILE#{profile_id}"}, "sk": {"S": f"JOURNEY#{journey}"}},
    ).get("Item")  # fmt: skip
    # Then the router entered them (their entry record); a held-out person has no run and no message
    assert entry is not None, f"{journey} never started for {customer_id}"
    runs = [e for e in shop.executions(resource_name(journey)) if e["name"] == entry["execution_name"]["S"]]
    if held_out:
        assert (entry["outcome"]["S"], runs, _final_outcomes(shop, profile_id, journey)) == ("holdout", [], {})
        return
    # Then their run succeeded and each send step ended as expected
    assert [run["status"] for run in runs] == ["SUCCEEDED"]
    assert _final_outcomes(shop, profile_id, journey) == expected
