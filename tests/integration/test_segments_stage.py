"""The segments stage on the local stack: the template's schedule fires, memberships and events follow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cdp_local.stack import LocalStack


def _seed_profile(stack: LocalStack, profile_id: str, last_order_days: int | None, orders: int) -> None:
    now = datetime.now(UTC)
    item = {"pk": {"S": f"PROFILE#{profile_id}"}, "sk": {"S": "PROFILE"}, "profile_id": {"S": profile_id},
            "signed_up_at": {"S": (now - timedelta(days=400)).isoformat()},
            "created_at": {"S": now.isoformat()}, "orders_count": {"N": str(orders)},
            "revenue": {"N": str(orders * 25)}}  # fmt: skip
    if last_order_days is not None:
        item["last_order_at"] = {"S": (now - timedelta(days=last_order_days)).isoformat()}
    stack.client("dynamodb").put_item(TableName=stack.physical_id("ProfilesTable"), Item=item)


def _segment_events(stack: LocalStack, queue_url: str) -> list[dict]:
    sqs = stack.client("sqs")
    events = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return events


def test_the_schedule_computes_segments_and_emits_only_changes(stack: LocalStack) -> None:
    # Given: three profiles, and a queue listening to segment events on the platform's bus
    for profile_id, last_order, orders in [("a", 3, 12), ("b", 500, 1), ("c", None, 0)]:
        _seed_profile(stack, profile_id, last_order, orders)
    sqs, events = stack.client("sqs"), stack.client("events")
    queue_url = sqs.create_queue(QueueName="segment-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = events.list_event_buses(NamePrefix="cdp-local")["EventBuses"][0]["Name"]
    events.put_rule(Name="listen", EventBusName=bus, EventPattern=json.dumps({"source": ["cdp.segments"]}))
    events.put_targets(Rule="listen", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    # When: the template's schedule fires
    assert stack.run_schedules() == 1
    first = _segment_events(stack, queue_url)

    # Then: memberships, profile attributes and one Entered event per membership
    table = stack.physical_id("ProfilesTable")
    members = {
        i["pk"]["S"].removeprefix("SEGMENT#") + "/" + i["profile_id"]["S"]
        for i in stack.client("dynamodb").scan(TableName=table)["Items"]
        if i["pk"]["S"].startswith("SEGMENT#")
    }
    assert {"lifecycle:active/a", "lifecycle:churned/b", "lifecycle:prospect/c", "rfm:No Purchases Yet/c"} <= members
    assert len(members) == 6
    assert {e["detail-type"] for e in first} == {"Segment Entered"} and len(first) == 6
    profile_c = stack.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": "PROFILE#c"}, "sk": {"S": "PROFILE"}}
    )
    assert profile_c["Item"]["lifecycle_stage"]["S"] == "prospect"

    # When: it fires again with nothing changed, then once more after c's first order
    stack.run_schedules()
    unchanged = _segment_events(stack, queue_url)
    stack.client("dynamodb").update_item(
        TableName=table,
        Key={"pk": {"S": "PROFILE#c"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET orders_count = :one, revenue = :amount, last_order_at = :at",
        ExpressionAttributeValues={
            ":one": {"N": "1"},
            ":amount": {"N": "20"},
            ":at": {"S": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
        },
    )
    stack.run_schedules()
    changed = [e for e in _segment_events(stack, queue_url) if e["detail"]["profile_id"] == "c"]

    # Then
    assert unchanged == []
    members_after = {
        i["pk"]["S"] for i in stack.client("dynamodb").scan(TableName=table)["Items"] if i["sk"]["S"] == "PROFILE#c"
    }
    assert "SEGMENT#rfm:No Purchases Yet" not in members_after
    assert {(e["detail-type"], e["detail"]["segment"]) for e in changed} >= {
        ("Segment Exited", "rfm:No Purchases Yet"),
        ("Segment Exited", "lifecycle:prospect"),
        ("Segment Entered", "lifecycle:active"),
    }
    assert stack.async_failures == []
