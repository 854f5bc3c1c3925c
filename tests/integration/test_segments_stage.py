"""The segments stage on the local stack: the template's schedule fires; memberships, scores and events follow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from cdp.keys import profile_key, segment_member_key
from cdp_local.stack import LocalStack
from cdp_local.template import function_events

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
# profile id: (signed up ago, last order ago or None, orders, revenue); buyers rank 1..5 on R, F and M alike
PROFILES: dict[str, tuple[timedelta, timedelta | None, int, int]] = {
    "lapsed": (800 * DAY, 400 * DAY, 1, 25),
    "fading": (800 * DAY, 200 * DAY, 3, 90),
    "steady": (800 * DAY, 60 * DAY, 5, 200),
    "regular": (800 * DAY, 20 * DAY, 8, 400),
    "best": (800 * DAY, 2 * DAY, 12, 900),
    "browser": (400 * DAY, None, 0, 0),
    "newcomer": (5 * DAY, None, 0, 0),
}
FIRST_MEMBERSHIPS = {
    ("rfm:Lost", "lapsed"), ("lifecycle:churned", "lapsed"),
    ("rfm:Hibernating", "fading"), ("lifecycle:dormant", "fading"),
    ("rfm:Need Attention", "steady"), ("lifecycle:active", "steady"),
    ("rfm:Loyal Customers", "regular"), ("lifecycle:active", "regular"),
    ("rfm:Champions", "best"), ("lifecycle:active", "best"),
    ("rfm:No Purchases Yet", "browser"), ("lifecycle:prospect", "browser"),
    ("rfm:No Purchases Yet", "newcomer"), ("lifecycle:new", "newcomer"),
}  # fmt: skip


def _profiles_table(stack: LocalStack) -> Any:
    return boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))


def _seed_profile(stack: LocalStack, profile_id: str) -> None:
    signed_up_ago, last_order_ago, orders, revenue = PROFILES[profile_id]
    item = {
        **profile_key(profile_id),
        "profile_id": profile_id,
        "created_at": NOW.isoformat(),  # profiles made today by a history import: first seen is the signup
        "signed_up_at": (NOW - signed_up_ago).isoformat(),
        "orders_count": orders,
        "revenue": revenue,
    }
    if last_order_ago is not None:
        item["last_order_at"] = (NOW - last_order_ago).isoformat()
    _profiles_table(stack).put_item(Item=item)


def _bus_the_function_publishes_to(stack: LocalStack) -> str:
    """EVENT_BUS_NAME as the function sees it (moto leaves the bus's physical id empty in the stack resources)."""
    function = stack.client("lambda").get_function_configuration(
        FunctionName=stack.physical_id("ComputeSegmentsFunction")
    )
    return function["Environment"]["Variables"]["EVENT_BUS_NAME"]


def _listen_to_segment_events(stack: LocalStack) -> str:
    """A queue receiving every cdp.segments event on the platform's bus; returns its URL."""
    sqs, events = stack.client("sqs"), stack.client("events")
    queue_url = sqs.create_queue(QueueName="segment-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = _bus_the_function_publishes_to(stack)
    events.put_rule(Name="segment-events", EventBusName=bus, EventPattern=json.dumps({"source": ["cdp.segments"]}))
    events.put_targets(Rule="segment-events", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url


def _received_transitions(stack: LocalStack, queue_url: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(detail-type, segment, profile, previous) of each event queued so far, draining the queue."""
    sqs = stack.client("sqs")
    received = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            event = json.loads(message["Body"])
            detail = event["detail"]
            received.append((event["detail-type"], detail["segment"], detail["profile_id"], tuple(detail["previous"])))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(received)


def _memberships(stack: LocalStack) -> set[tuple[str, str]]:
    """(segment, profile id) of every membership item, each checked to be keyed by segment_member_key."""
    memberships = set()
    for item in _profiles_table(stack).scan()["Items"]:
        if item["pk"].startswith("SEGMENT#"):
            segment, profile_id = item["pk"].removeprefix("SEGMENT#"), item["profile_id"]
            assert {"pk": item["pk"], "sk": item["sk"]} == segment_member_key(segment, profile_id)
            memberships.add((segment, profile_id))
    return memberships


def _profile(stack: LocalStack, profile_id: str) -> dict[str, Any]:
    return _profiles_table(stack).get_item(Key=profile_key(profile_id))["Item"]


def _computed_at(stack: LocalStack) -> dict[str, str]:
    """When each profile's segments were last written."""
    return {profile_id: _profile(stack, profile_id)["segments_computed_at"] for profile_id in PROFILES}


def test_the_schedule_enters_everyone_once_then_announces_only_what_changed(stack: LocalStack) -> None:
    # Given: seven profiles and a queue listening to segment events on the platform's bus
    for profile_id in PROFILES:
        _seed_profile(stack, profile_id)
    queue_url = _listen_to_segment_events(stack)

    # When: the template's schedule fires
    assert stack.run_schedules() == len(function_events(stack.template, "Schedule"))  # every schedule, this one among them

    # Then: two memberships per profile, each announced once, and the scores saved on each profile
    assert stack.async_failures == []
    assert _memberships(stack) == FIRST_MEMBERSHIPS
    assert _received_transitions(stack, queue_url) == sorted(
        ("Segment Entered", segment, profile_id, ()) for segment, profile_id in FIRST_MEMBERSHIPS
    )
    best = _profile(stack, "best")
    assert best["rfm"] == {"segment": "Champions", "r": 5, "f": 5, "m": 5, "recency_days": 2}
    assert best["lifecycle_stage"] == "active"
    assert _profile(stack, "browser")["rfm"] == {"segment": "No Purchases Yet"}
    first_computed_at = _computed_at(stack)

    # When: it fires again with nothing changed
    stack.run_schedules()

    # Then: nothing is announced or rewritten
    assert _received_transitions(stack, queue_url) == []
    assert _computed_at(stack) == first_computed_at

    # When: the lapsed customer orders again (still the longest ago and the fewest orders), and it fires once more
    _profiles_table(stack).update_item(
        Key=profile_key("lapsed"),
        UpdateExpression="SET last_order_at = :ordered_at, orders_count = :orders, revenue = :revenue",
        ExpressionAttributeValues={":ordered_at": (NOW - 300 * DAY).isoformat(), ":orders": 2, ":revenue": 50},
    )
    stack.run_schedules()

    # Then: only the lapsed customer's stage moves; the others are neither announced nor rewritten
    assert stack.async_failures == []
    previous = ("lifecycle:churned", "rfm:Lost")
    assert _received_transitions(stack, queue_url) == [
        ("Segment Entered", "lifecycle:dormant", "lapsed", previous),
        ("Segment Exited", "lifecycle:churned", "lapsed", previous),
    ]
    moved = {("lifecycle:dormant", "lapsed")}
    assert _memberships(stack) == FIRST_MEMBERSHIPS - {("lifecycle:churned", "lapsed")} | moved
    lapsed = _profile(stack, "lapsed")
    assert lapsed["lifecycle_stage"] == "dormant"
    assert lapsed["rfm"] == {"segment": "Lost", "r": 1, "f": 1, "m": 1, "recency_days": 300}
    last_computed_at = _computed_at(stack)
    assert last_computed_at.pop("lapsed") > first_computed_at.pop("lapsed")
    assert last_computed_at == first_computed_at
