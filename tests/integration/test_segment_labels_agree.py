"""The scheduled run's `rfm:` / `lifecycle:` labels and the live `rfm_*` / `lifecycle_*` segments give one answer:
export files through the local stack (day boundaries, a customer who only cancelled, a quarantined row), then the
scheduled run, then an order tracked live and the next run."""

from __future__ import annotations

import base64
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp.adapters.dynamodb import plain
from cdp.keys import IDENTITY_SK, identifier_of_identity_pk, identifier_text
from cdp.segments.lifecycle import STAGES
from cdp.segments.rfm import SEGMENT_GRID
from cdp_local.runner import create_local_source, http_api
from cdp_local.stack import LocalStack

NOW = datetime.now(UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
CUSTOMERS = "customer_id,email,phone,first_name,last_name,country,city,signup_at,email_consent,sms_consent,birthday\n"
ORDERS = "order_id,customer_id,ordered_at,currency,total_amount,items,category,status,sku\n"
# customer: (signed up ago, [(ordered ago, status)]) and the stage both families must give
PEOPLE: dict[str, tuple[timedelta, list[tuple[timedelta, str]], str]] = {
    "C01": (30 * DAY + 12 * HOUR, [], "new"),  # 30 whole days: still new
    "C02": (31 * DAY + HOUR, [], "prospect"),
    "C03": (10 * DAY, [(5 * DAY, "completed")], "new"),
    "C04": (400 * DAY, [(90 * DAY + 12 * HOUR, "completed")], "active"),  # 90 whole days: still active
    "C05": (400 * DAY, [(200 * DAY, "cancelled")], "dormant"),  # only a cancellation: bought, never a prospect
    "C06": (800 * DAY, [(400 * DAY, "completed"), (500 * DAY, "completed")], "churned"),
    "C07": (800 * DAY, [(2 * DAY, "completed"), (40 * DAY, "completed"), (300 * DAY, "completed")], "active"),
    "C08": (600 * DAY, [(20 * DAY, "completed"), (100 * DAY, "completed")], "active"),
    "C09": (700 * DAY, [(150 * DAY, "completed")], "dormant"),
    "C10": (900 * DAY, [(1 * DAY, "completed")] + [(d * 30 * DAY, "completed") for d in range(1, 9)], "active"),
}
RULE_NAMES = {f"lifecycle:{stage}": f"lifecycle_{stage}" for stage in STAGES} | {
    f"rfm:{name}": "rfm_" + name.lower().replace(" ", "_") for name in set(SEGMENT_GRID.values())
}


def _exports() -> tuple[str, str]:
    customers, orders, number = CUSTOMERS, ORDERS, 0
    for customer, (signed_up_ago, placed, _) in PEOPLE.items():
        customers += f"{customer},{customer.lower()}@example.com,,Ann,Lee,GB,London,{(NOW - signed_up_ago).isoformat()},true,false,\n"
        for ordered_ago, status in placed:
            number += 1
            orders += f"O{number:04d},{customer},{(NOW - ordered_ago).isoformat()},GBP,40.00,1,books,{status},BOO-1\n"
    orders += f"O9999,C02,{(NOW - DAY).isoformat()},GBP,not-a-number,1,books,completed,BOO-1\n"  # quarantined
    return customers, orders


def _memberships(stack: LocalStack) -> dict[str, set[str]]:
    """Segment -> the customer ids of its SEGMENT# items."""
    items = [plain(item) for page in stack.client("dynamodb").get_paginator("scan").paginate(
        TableName=stack.physical_id("ProfilesTable")) for item in page["Items"]]  # fmt: skip
    texts = [(item["profile_id"], identifier_text(identifier_of_identity_pk(item["pk"])))
             for item in items if item["sk"] == IDENTITY_SK and item.get("profile_id")]  # fmt: skip
    customers = {profile_id: text.removeprefix("customer_id#") for profile_id, text in texts
                 if text.startswith("customer_id#")}  # fmt: skip
    members: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if item["pk"].startswith("SEGMENT#"):
            members[item["pk"].removeprefix("SEGMENT#")].add(str(customers.get(item["profile_id"])))
    return members


def _tick() -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "eu-west-1", "resources": [], "detail": {}}  # fmt: skip


def _disagreements(members: dict[str, set[str]]) -> dict[str, tuple[set[str], set[str]]]:
    return {label: (members[label], members[rule]) for label, rule in RULE_NAMES.items() if members[label] != members[rule]}


def test_after_each_scheduled_run_the_labels_and_the_live_segments_have_the_same_members(stack: LocalStack) -> None:
    # Given the shop's exports dropped into the raw bucket (ingested, profiles written, live segments decided)
    customers, orders = _exports()
    raw = stack.physical_id("RawBucket")
    stack.client("s3").put_object(Bucket=raw, Key="customers/customers.csv", Body=customers.encode())
    stack.client("s3").put_object(Bucket=raw, Key="orders/orders.csv", Body=orders.encode())
    # When the scheduled run comes
    stack.invoke("ComputeSegmentsFunction", _tick())
    # Then every lifecycle and RFM label has exactly the members of its live rule segment
    members = _memberships(stack)
    assert stack.async_failures == []
    assert _disagreements(members) == {}
    assert {stage: sorted(members[f"lifecycle_{stage}"]) for stage in STAGES} == {
        stage: sorted(customer for customer, (_, _, expected) in PEOPLE.items() if expected == stage) for stage in STAGES
    }

    # When the new buyer orders again, tracked live (the live segments move at once, the labels at the next run)
    api, write_key = http_api(stack), create_local_source(stack)
    authorization = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    order = {"userId": "C03", "messageId": "m-1", "event": "Order Completed", "timestamp": NOW.isoformat(),
             "properties": {"order_id": "O-live", "revenue": 30, "currency": "GBP"}}  # fmt: skip
    response = api.handle("POST", "/v1/track", {"content-type": "application/json", "authorization": authorization,
                                                 "host": "localhost"}, json.dumps(order).encode())  # fmt: skip
    assert response.status == 200, response.body
    assert "C03" in _memberships(stack)["lifecycle_active"]
    stack.invoke("ComputeSegmentsFunction", _tick())
    # Then after that run they agree again
    members = _memberships(stack)
    assert _disagreements(members) == {}
    assert "C03" in members["lifecycle:active"]
