"""The sharded segment run on the local stack, forced down its path (threshold 0, 3 shards, 120 profiles, some
refusing profiling, some browsing only): the template's schedule plans it, its state machine runs it, and everything
it leaves (memberships, announced events, scores, tags, predictions, cut points, the snapshot's parts, sizes and
personas) is what the single-function run leaves on the same data. Then a second sharded run on the unchanged base
announces nothing."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cdp.adapters.segment_snapshots import SegmentSnapshots
from cdp.keys import identity_key, parse_identifier, profile_key
from cdp_local.stack import LocalStack

NOW = datetime.now(UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
PROFILES = 120
SHARDS = 3
TIMESTAMP = pa.timestamp("us", tz="UTC")
CATEGORIES = ("shoes", "bags", "hats", "shampoo")
SCHEDULED = {"version": "0", "id": "tick", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "eu-west-1",
             "resources": [], "detail": {}}  # fmt: skip


def _base(seed: int = 15) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(profile items, order lines, events) of PROFILES customers, some refusing profiling, some browsing only."""
    rng = random.Random(seed)
    items, lines, events = [], [], []
    for number in range(PROFILES):
        profile_id, customer = f"p{number:03d}", f"C{number:03d}"
        orders = rng.choice((0, 0, 1, 1, 2, 3, 5, 8))
        signed_up_days = rng.randint(1, 900)
        item: dict[str, Any] = {**profile_key(profile_id), "profile_id": profile_id, "created_at": NOW.isoformat(),
                                "signed_up_at": (NOW - signed_up_days * DAY).isoformat(), "orders_count": orders,
                                "country": rng.choice(("GB", "FR", "DE", "NL"))}  # fmt: skip
        consent = {"email:marketing": {"granted": rng.random() < 0.6}}
        if rng.random() < 0.05:
            consent["email:profiling"] = {"granted": False}
        item["consent"] = consent
        revenue = 0
        day = signed_up_days
        for order in range(orders):
            day = rng.randint(0, day) if order else rng.randint(max(day // 2, 0), day)
            category = rng.choice(CATEGORIES)
            amount = rng.randint(5, 150)
            revenue += amount
            lines.append({"customer_id": customer, "order_id": f"{customer}-{order}", "status": "completed",
                          "ordered_at": NOW - day * DAY - HOUR, "sku": f"sku-{category}", "category": category,
                          "line_amount": float(amount)})  # fmt: skip
            item["last_order_at"] = (NOW - day * DAY - HOUR).isoformat()
        item["revenue"] = revenue
        if rng.random() < 0.35:
            for view in range(rng.randint(1, 4)):
                events.append({"customer_id": customer, "event": "Product Viewed", "occurred_at": NOW - (view + 1) * HOUR,
                               "properties": json.dumps({"product_id": f"P{view}", "category": rng.choice(CATEGORIES)})})
            if rng.random() < 0.5:
                events.append({"customer_id": customer, "event": "Product Added", "occurred_at": NOW - 2 * HOUR,
                               "properties": json.dumps({"product_id": "P0", "price": 20})})  # fmt: skip
        items.append(item)
    return items, lines, events


def _seed(stack: LocalStack) -> None:
    items, lines, events = _base()
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
            batch.put_item(Item={**identity_key(parse_identifier(f"customer_id#C{item['profile_id'][1:]}")),
                                 "profile_id": item["profile_id"]})  # fmt: skip
    bucket = stack.physical_id("CuratedBucket")
    for entity, rows, schema in (
        ("orders", lines, [("customer_id", pa.string()), ("order_id", pa.string()), ("status", pa.string()),
                           ("ordered_at", TIMESTAMP), ("sku", pa.string()), ("category", pa.string()),
                           ("line_amount", pa.float64())]),
        ("events", events, [("customer_id", pa.string()), ("event", pa.string()), ("occurred_at", TIMESTAMP),
                            ("properties", pa.string())]),
    ):  # fmt: skip
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows, pa.schema(schema)), buffer)
        stack.client("s3").put_object(Bucket=bucket, Key=f"{entity}/dt={NOW:%Y-%m-%d}/seeded.parquet",
                                      Body=buffer.getvalue())  # fmt: skip


def _listen(stack: LocalStack) -> str:
    """A queue receiving every cdp.segments event on the platform's bus, its only consumer (the journeys' router and
    the other rules are unhooked: this test watches the segments stage alone); returns its URL."""
    sqs, events = stack.client("sqs"), stack.client("events")
    queue_url = sqs.create_queue(QueueName="segment-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    configuration = stack.client("lambda").get_function_configuration(
        FunctionName=stack.physical_id("ComputeSegmentsFunction"))
    bus = configuration["Environment"]["Variables"]["EVENT_BUS_NAME"]
    for rule in events.list_rules(EventBusName=bus)["Rules"]:
        targets = [target["Id"] for target in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]]
        if targets:
            events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=targets)
        events.delete_rule(Name=rule["Name"], EventBusName=bus)
    events.put_rule(Name="segment-events", EventBusName=bus, EventPattern=json.dumps({"source": ["cdp.segments"]}))
    events.put_targets(Rule="segment-events", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url


def _announced(stack: LocalStack, queue_url: str) -> list[tuple[str, str, str, tuple[str, ...], int]]:
    sqs, received = stack.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            event = json.loads(message["Body"])
            detail = event["detail"]
            received.append((detail["profile_id"], event["detail-type"], detail["segment"], tuple(detail["previous"]),
                             detail["version"]))  # fmt: skip
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(received)


def _without_moments(values: Any) -> Any:
    """Stored predictions without next_order_at (the runs' clocks are seconds apart; checked separately)."""
    if isinstance(values, dict):
        return {key: _without_moments(value) for key, value in values.items() if key != "next_order_at"}
    return values


def _outcome(stack: LocalStack, queue_url: str) -> dict[str, Any]:
    """Everything a run leaves, in comparable form."""
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))
    items = [item for page in table.meta.client.get_paginator("scan").paginate(TableName=table.name)
             for item in page["Items"]]  # fmt: skip
    profiles = {item["profile_id"]: item for item in items if item["pk"].startswith("PROFILE#") and item["sk"] == "PROFILE"}
    bucket = stack.physical_id("CuratedBucket")
    latest = SegmentSnapshots(bucket).latest() or {}
    report_key = latest["key"].rsplit("/", 1)[0] + "/report.json"
    report = json.loads(stack.client("s3").get_object(Bucket=bucket, Key=report_key)["Body"].read())
    snapshot = SegmentSnapshots(bucket)
    return {
        "memberships": {(item["pk"].removeprefix("SEGMENT#"), item["profile_id"]) for item in items
                        if item["pk"].startswith("SEGMENT#")},
        "announced": _announced(stack, queue_url),
        "values": {profile_id: {name: _without_moments(item.get(name))
                                for name in ("rfm", "lifecycle_stage", "tags", "predictions", "replenishment",
                                             "memberships", "memberships_version")}
                   for profile_id, item in profiles.items()},
        "next_order_at": {profile_id: datetime.fromisoformat(item["predictions"]["next_order_at"])
                          for profile_id, item in profiles.items() if "next_order_at" in item.get("predictions", {})},
        "pending": [profile_id for profile_id, item in profiles.items() if item.get("pending_transitions")],
        "cut_points": {name: value for name, value in next(item for item in items if item["pk"] == "SEGMENTS#RFM")
                       .items() if name not in ("computed_at",)},
        "snapshot": {(segment, profile_id) for segment in latest["sizes"] for profile_id in snapshot.members(segment)},
        "parts": len(latest["parts"]),
        "sizes": latest["sizes"],
        "report": {name: report[name] for name in ("profiles", "not_profiled", "segments", "entered", "exited",
                                                   "profiles_saved", "conflicts", "invalid_definitions")},
        "predictions": report["predictions"],
        "personas": {segment: {name: value for name, value in persona.items() if name != "size_history"}
                     for segment, persona in report["personas"].items()},
    }  # fmt: skip


def _run(parameters: dict[str, str]) -> Iterator[tuple[LocalStack, dict[str, Any]]]:
    with LocalStack(parameters=parameters) as stack:
        _seed(stack)
        queue_url = _listen(stack)
        stack.invoke("ComputeSegmentsFunction", SCHEDULED)
        stack.wait_for_executions(timeout=600)
        assert stack.async_failures == []
        yield stack, _outcome(stack, queue_url)
        stack.invoke("ComputeSegmentsFunction", SCHEDULED)  # the same base again
        stack.wait_for_executions(timeout=600)
        yield stack, _outcome(stack, queue_url)


@pytest.fixture(scope="module")
def single() -> dict[str, Any]:
    runs = _run({})
    _, outcome = next(runs)
    runs.close()
    return outcome


@pytest.mark.long_running
def test_a_forced_sharded_run_leaves_what_the_single_function_run_leaves(single: dict[str, Any]) -> None:
    # Given the same base, the sharded path forced (threshold 0, 3 shards)
    runs = _run({"SegmentShardThresholdCustomers": "0", "SegmentShards": str(SHARDS)})
    # When the schedule fires: the scheduled function plans, the state machine computes the shards
    stack, sharded = next(runs)
    [execution] = stack.executions("SegmentRunStateMachine")
    assert execution["status"] == "SUCCEEDED"
    # Then: what it left is the single run's, every profile's values and memberships, every event once
    assert sharded["parts"] == SHARDS and single["parts"] == 1
    assert len(single["memberships"]) > PROFILES and single["pending"] == []
    for name in ("memberships", "announced", "cut_points", "snapshot", "sizes", "report", "predictions", "personas",
                 "pending"):
        assert sharded[name] == single[name], name
    assert sharded["values"] == single["values"]
    assert sharded["next_order_at"].keys() == single["next_order_at"].keys()
    assert all(abs(sharded["next_order_at"][p] - single["next_order_at"][p]) < timedelta(minutes=10)
               for p in single["next_order_at"])
    assert len(set(sharded["announced"])) == len(sharded["announced"]) > 0
    assert sharded["report"]["not_profiled"] > 0 and "confidence" in sharded["predictions"]

    # When the schedule fires again on the unchanged base
    stack, again = next(runs)
    runs.close()
    # Then the second sharded run announces nothing, and its memberships and snapshot are the same
    assert again["announced"] == [] and again["report"]["entered"] == again["report"]["exited"] == 0
    assert again["memberships"] == sharded["memberships"] and again["snapshot"] == sharded["snapshot"]
    assert again["pending"] == []
