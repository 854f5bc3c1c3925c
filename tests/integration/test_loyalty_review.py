"""Loyalty on the local stack: orders and loyalty entries dropped as files fold into points; the scheduled review
decides tiers, announces a tier change and expiring points once, and the profile shows its loyalty section."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from cdp.keys import profile_key
from cdp.profiles.read import public_profile
from cdp_local.stack import LocalStack

NOW = datetime.now(UTC)
EARNED_LONG_AGO = (NOW - timedelta(days=350)).replace(microsecond=0)  # its points expire within the notice period
RECENT = (NOW - timedelta(days=3)).replace(microsecond=0)


def _orders_file() -> bytes:
    lines = ["order_id,line_id,customer_id,email,ordered_at,currency,sku,category,quantity,unit_price,status"]
    lines.append(f"L-1,1,C-GOLD,gold@example.com,{RECENT.isoformat()},GBP,SKU-1,home,2,400.00,completed")
    lines.append(f"L-2,1,C-OLD,old@example.com,{EARNED_LONG_AGO.isoformat()},GBP,SKU-2,home,1,40.00,completed")
    return ("\n".join(lines) + "\n").encode()


def _loyalty_file() -> bytes:
    lines = ["entry_id,customer_id,occurred_at,points,reason"]
    lines.append(f"E-1,C-GOLD,{RECENT.isoformat()},-100,redeemed")
    return ("\n".join(lines) + "\n").encode()


def _table(stack: LocalStack) -> Any:
    return boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))


def _profile_of(stack: LocalStack, customer_id: str) -> dict[str, Any]:
    identity = _table(stack).get_item(Key={"pk": f"IDENTITY#customer_id#{customer_id}", "sk": "IDENTITY"})["Item"]
    return _table(stack).get_item(Key=profile_key(identity["profile_id"]))["Item"]


def _listen(stack: LocalStack) -> str:
    sqs, events = stack.client("sqs"), stack.client("events")
    queue_url = sqs.create_queue(QueueName="loyalty-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    function = stack.client("lambda").get_function_configuration(
        FunctionName=stack.physical_id("ReviewLoyaltyFunction")
    )
    bus = function["Environment"]["Variables"]["EVENT_BUS_NAME"]
    events.put_rule(Name="loyalty-events", EventBusName=bus, EventPattern=json.dumps({"source": ["cdp.loyalty"]}))
    events.put_targets(Rule="loyalty-events", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url


def _received(stack: LocalStack, queue_url: str) -> list[tuple[str, dict[str, Any]]]:
    sqs, received = stack.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            event = json.loads(message["Body"])
            detail = {name: value for name, value in event["detail"].items() if name not in ("metadata", "profile_id")}
            received.append((event["detail-type"], detail))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(received, key=lambda entry: entry[0])


def _review(stack: LocalStack) -> dict[str, Any]:
    scheduled = {"version": "0", "id": "tick", "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": "123456789012", "time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": stack.region,
                 "resources": [], "detail": {}}  # fmt: skip
    return dict(stack.invoke("ReviewLoyaltyFunction", scheduled))


def test_points_tiers_and_expiry_from_dropped_files(stack: LocalStack) -> None:
    # Given orders and a redemption dropped as files, and a queue listening to cdp.loyalty events
    raw = stack.physical_id("RawBucket")
    stack.client("s3").put_object(Bucket=raw, Key="orders/orders.csv", Body=_orders_file())
    stack.client("s3").put_object(Bucket=raw, Key="loyalty/entries.csv", Body=_loyalty_file())
    stack.deliver_queued_messages()
    queue_url = _listen(stack)

    # When the scheduled review runs
    review = _review(stack)

    # Then the 800 GBP spender reached gold (announced), the other's 40 points expiring soon were announced
    assert (review["members"], review["tiers"], review["points"], review["points_expiring"]) == (
        2, {"gold": 1, "member": 1}, 740, 40)  # fmt: skip
    expires_at = (EARNED_LONG_AGO.date() + timedelta(days=365)).isoformat()
    assert _received(stack, queue_url) == [
        ("Points Expiring", {"points": 40, "expires_at": expires_at}),
        ("Tier Changed", {"previous_tier": None, "tier": "gold", "direction": "joined", "at": review["as_of"]}),
    ]
    gold = public_profile(_profile_of(stack, "C-GOLD"))["loyalty"]
    assert gold == {"points": 700, "points_expiring": 0, "points_expire_at": None, "tier": "gold",
                    "tier_since": review["as_of"]}  # fmt: skip
    assert public_profile(_profile_of(stack, "C-OLD"))["loyalty"]["points_expire_at"] == expires_at

    # When the review runs again (a replay, or the next hour with nothing changed)
    replay = _review(stack)

    # Then nothing is announced again
    assert (replay["tier_changes"], replay["expiry_notices"]) == (0, 0)
    assert _received(stack, queue_url) == []
