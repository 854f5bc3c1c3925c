"""The sharded segment run on the local stack, forced down its path (threshold 0, 3 shards, 120 profiles, some
refusing profiling, some browsing only): the template's schedule plans it, its state machine runs it, and everything
it leaves (memberships, announced events, scores, tags, predictions, cut points, the snapshot's parts, sizes and
personas) is what the single-function run leaves on the same data. Then a second sharded run on the unchanged base
announces nothing."""

from __future__ import annotations

import io
import json
import random
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.client import BaseClient
from botocore.response import StreamingBody
from cdp.adapters.segment_snapshots import SegmentSnapshots
from cdp.keys import identity_key, parse_identifier, profile_key
from cdp_local.stack import LocalStack

NOW = datetime.now(UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
PROFILES = 240
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
        "values": {profile_id: {name: item.get(name)
                                for name in ("rfm", "lifecycle_stage", "tags", "predictions", "replenishment",
                                             "memberships", "memberships_version")}
                   for profile_id, item in profiles.items()},
        "pending": [profile_id for profile_id, item in profiles.items() if item.get("pending_transitions")],
        "cut_points": {name: value for name, value in next(item for item in items if item["pk"] == "SEGMENTS#RFM")
                       .items() if name not in ("computed_at",)},
        "snapshot": {(segment, profile_id) for segment in latest["sizes"] for profile_id in snapshot.members(segment)},
        "parts": len(latest["parts"]),
        "run_id": report["run_id"],
        "sizes": latest["sizes"],
        "report": {name: report[name] for name in ("profiles", "not_profiled", "segments", "entered", "exited",
                                                   "profiles_saved", "conflicts", "invalid_definitions")},
        "predictions": report["predictions"],
        "personas": {segment: {name: value for name, value in persona.items() if name != "size_history"}
                     for segment, persona in report["personas"].items()},
    }  # fmt: skip


class _ProfileWrites:
    """Counts the requests that write a profile item (PROFILE#... / PROFILE) to DynamoDB, from any client."""

    def __init__(self) -> None:
        self.count = 0
        self._call = BaseClient._make_api_call
        self._lock = threading.Lock()

    def __enter__(self) -> _ProfileWrites:
        counter, call = self, self._call

        def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            items = [params] if operation in ("UpdateItem", "PutItem", "DeleteItem") else (
                [entry for request in params.get("RequestItems", {}).values() for entry in request]
                + list(params.get("TransactItems", [])))  # fmt: skip
            written = sum('"PROFILE#' in (text := json.dumps(item, default=str)) and '"PROFILE"' in text for item in items)
            with counter._lock:  # the store writes from a thread pool
                counter.count += written
            return call(client, operation, params)

        self._patch = mock.patch.object(BaseClient, "_make_api_call", counting)
        self._patch.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._patch.stop()


class _ParquetReads:
    """Rows of every Parquet object read from S3 (GetObject), by key, in the order read."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int]] = []

    def __enter__(self) -> _ParquetReads:
        reads, call = self, BaseClient._make_api_call

        def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            response = call(client, operation, params)
            if operation == "GetObject" and params["Key"].endswith(".parquet"):
                body = response["Body"].read()
                reads.rows.append((params["Key"], pq.ParquetFile(io.BytesIO(body)).metadata.num_rows))
                response["Body"] = StreamingBody(io.BytesIO(body), len(body))
            return response

        self._patch = mock.patch.object(BaseClient, "_make_api_call", recording)
        self._patch.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._patch.stop()

    def of(self, prefix: str) -> list[int]:
        return [rows for key, rows in self.rows if key.startswith(prefix)]


def _run(parameters: dict[str, str]) -> Iterator[tuple[LocalStack, dict[str, Any]]]:
    with LocalStack(parameters=parameters) as stack:
        _seed(stack)
        queue_url = _listen(stack)
        stack.invoke("ComputeSegmentsFunction", SCHEDULED)
        stack.wait_for_executions(timeout=600)
        assert stack.async_failures == []
        yield stack, _outcome(stack, queue_url)
        with _ProfileWrites() as writes:
            stack.invoke("ComputeSegmentsFunction", SCHEDULED)  # the same base again
            stack.wait_for_executions(timeout=600)
        yield stack, {**_outcome(stack, queue_url), "profile_writes": writes.count}


def test_a_second_run_on_an_unchanged_base_writes_no_profile_and_announces_nothing() -> None:
    with closing(_run({})) as runs:
        # Given a base of buyers whose predictions the first run wrote
        _, first = next(runs)
        assert "confidence" in first["predictions"] and first["report"]["profiles_saved"] > 0
        # When the schedule fires again on the unchanged base (its clock a few seconds on)
        _, again = next(runs)
    # Then no profile item is written and nothing is announced
    assert (again["profile_writes"], again["report"]["profiles_saved"], again["announced"]) == (0, 0, [])
    assert again["values"] == first["values"]


@pytest.fixture(scope="module")
def single() -> dict[str, Any]:
    with closing(_run({})) as runs:
        _, outcome = next(runs)
    return outcome


@pytest.mark.long_running
def test_a_forced_sharded_run_leaves_what_the_single_function_run_leaves(single: dict[str, Any]) -> None:
    # Given the same base, the sharded path forced (threshold 0, 3 shards)
    with closing(_run({"SegmentShardThresholdCustomers": "0", "SegmentShards": str(SHARDS)})) as runs:
        # When the schedule fires: the scheduled function plans, the state machine computes the shards
        with _ParquetReads() as reads:
            stack, sharded = next(runs)
        [execution] = stack.executions("SegmentRunStateMachine")
        assert execution["status"] == "SUCCEEDED"
        # Then the curated behaviour was read once (by the plan), and each shard step read only its own split: about a
        # third of it
        _, lines, events = _base()
        assert sum(reads.of("orders/")) == len(lines) and sum(reads.of("events/")) == len(events)
        for entity, rows in (("orders", len(lines)), ("events", len(events))):
            split = {shard: reads.of(f"segment_work/runs/{sharded['run_id']}/{entity}-{shard}.parquet") for shard in range(SHARDS)}
            assert all(len(set(counts)) == 1 and counts for counts in split.values())  # each read whole, the same each time
            assert sum(counts[0] for counts in split.values()) <= rows
            assert all(0.2 * rows <= counts[0] <= 0.5 * rows for counts in split.values()), (entity, rows, split)
        # Then: what it left is the single run's, every profile's values and memberships, every event once
        assert sharded["parts"] == SHARDS and single["parts"] == 1
        assert len(single["memberships"]) > PROFILES and single["pending"] == []
        for name in ("memberships", "announced", "cut_points", "snapshot", "sizes", "report", "predictions", "personas",
                     "pending"):  # fmt: skip
            assert sharded[name] == single[name], name
        assert sharded["values"] == single["values"]  # predictions included: next_order_at is a day, not the run's clock
        assert len(set(sharded["announced"])) == len(sharded["announced"]) > 0
        assert sharded["report"]["not_profiled"] > 0 and "confidence" in sharded["predictions"]

        # When the schedule fires again on the unchanged base
        stack, again = next(runs)
        # Then the second sharded run announces nothing and rewrites no profile, and its memberships and snapshot are the same
        assert again["announced"] == [] and again["report"]["entered"] == again["report"]["exited"] == 0
        assert again["report"]["profiles_saved"] == 0 and again["profile_writes"] == 0
        assert again["memberships"] == sharded["memberships"] and again["snapshot"] == sharded["snapshot"]
        assert again["pending"] == []
