"""The segments stage on the local stack: the template's schedule fires; memberships, scores and events follow."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from cdp.adapters.curated_parquet import CuratedParquet
from cdp.adapters.segment_definitions import SegmentDefinitions
from cdp.adapters.segment_snapshots import SegmentSnapshots
from cdp.adapters.segment_store import SegmentStore
from cdp.events import DomainEvent
from cdp.keys import profile_key, segment_member_key
from cdp.segments.compute import SegmentRunParts, compute_segments
from cdp.segments.definitions import load_library
from cdp.segments.ports import BehaviourRequest
from cdp_local.stack import LocalStack

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


def _rule_segments(memberships: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The library's rule segments these RFM and lifecycle memberships imply (rfm.json and lifecycle.json), plus
    marketing.json's that the seeded figures decide: high_value (M 5) and one_time_buyers (exactly one order)."""
    rules = set()
    for segment, profile_id in memberships:
        prefix, _, name = segment.partition(":")
        if name != "No Purchases Yet":
            rules.add((f"{prefix}_{name.lower().replace(' ', '_')}", profile_id))
    return rules


FIRST_RULES = _rule_segments(FIRST_MEMBERSHIPS) | {("high_value", "best"), ("one_time_buyers", "lapsed")} | {
    ("no_order_30_days", profile_id) for profile_id in ("steady", "fading", "lapsed")  # live.json: last order > 30 days ago
}


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
            assert detail["trigger"] == "scheduled"
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


def _latest_snapshot(stack: LocalStack) -> dict[str, Any]:
    body = stack.client("s3").get_object(Bucket=stack.physical_id("CuratedBucket"), Key="segment_memberships/latest.json")
    return json.loads(body["Body"].read())


def _snapshot_rows(stack: LocalStack, key: str) -> set[tuple[str, str]]:
    body = stack.client("s3").get_object(Bucket=stack.physical_id("CuratedBucket"), Key=key)["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    return set(zip(table["segment"].to_pylist(), table["profile_id"].to_pylist()))


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
    assert stack.run_schedules() >= 1  # the segment run among the template's schedules

    # Then: two memberships per profile, each announced once, and the scores saved on each profile
    assert stack.async_failures == []
    assert _memberships(stack) == FIRST_MEMBERSHIPS | FIRST_RULES
    assert _received_transitions(stack, queue_url) == sorted(
        ("Segment Entered", segment, profile_id, ()) for segment, profile_id in FIRST_MEMBERSHIPS | FIRST_RULES
    )
    latest = _latest_snapshot(stack)
    assert latest["sizes"]["rfm:Champions"] == 1 and latest["sizes"]["high_value"] == 1
    assert _snapshot_rows(stack, latest["key"]) == FIRST_MEMBERSHIPS | FIRST_RULES
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

    # Then: only the lapsed customer's stage moves (and it is no longer a one-time buyer); the others are neither
    # announced nor rewritten
    assert stack.async_failures == []
    previous = tuple(sorted(segment for segment, profile_id in FIRST_MEMBERSHIPS | FIRST_RULES if profile_id == "lapsed"))
    assert _received_transitions(stack, queue_url) == [
        ("Segment Entered", "lifecycle:dormant", "lapsed", previous),
        ("Segment Entered", "lifecycle_dormant", "lapsed", previous),
        ("Segment Exited", "lifecycle:churned", "lapsed", previous),
        ("Segment Exited", "lifecycle_churned", "lapsed", previous),
        ("Segment Exited", "one_time_buyers", "lapsed", previous),
    ]
    left = {("lifecycle:churned", "lapsed"), ("lifecycle_churned", "lapsed"), ("one_time_buyers", "lapsed")}
    moved = {("lifecycle:dormant", "lapsed"), ("lifecycle_dormant", "lapsed")}
    assert _memberships(stack) == (FIRST_MEMBERSHIPS | FIRST_RULES) - left | moved
    lapsed = _profile(stack, "lapsed")
    assert lapsed["lifecycle_stage"] == "dormant"
    assert lapsed["rfm"] == {"segment": "Lost", "r": 1, "f": 1, "m": 1, "recency_days": 300}
    last_computed_at = _computed_at(stack)
    assert last_computed_at.pop("lapsed") > first_computed_at.pop("lapsed")
    assert last_computed_at == first_computed_at


class _InterleavingStore(SegmentStore):
    """The DynamoDB store, running a whole other run right after this run has read its snapshot."""

    other_run: Any = None

    def load_snapshot(self, now: datetime | None = None) -> Any:
        snapshot = super().load_snapshot(now)
        if self.other_run is not None:
            other, self.other_run = self.other_run, None
            other()
        return snapshot


def test_two_overlapping_runs_on_dynamodb_announce_each_entry_once(stack: LocalStack) -> None:
    # Given: seven profiles, and run B starting and finishing while run A holds the snapshot it read before
    for profile_id in PROFILES:
        _seed_profile(stack, profile_id)
    store = _InterleavingStore(stack.physical_id("ProfilesTable"))
    published: list[DomainEvent] = []
    parts = SegmentRunParts(
        store=store, behaviour=CuratedParquet(stack.physical_id("CuratedBucket")),
        definitions=SegmentDefinitions(stack.physical_id("ProfilesTable")),
        snapshots=SegmentSnapshots(stack.physical_id("CuratedBucket")), publish=published.extend,
        library=load_library(), announce_after=timedelta(minutes=15),
    )  # fmt: skip
    store.other_run = lambda: compute_segments(parts, NOW, "run-B")
    # When
    run_a = compute_segments(parts, NOW, "run-A")
    # Then: A's conditional writes all lost to B's, so A announced nothing; every membership announced once
    transitions = [(event.detail["profile_id"], event.detail["segment"]) for event in published]
    assert (run_a.conflicts, run_a.profiles_saved, run_a.entered) == (len(PROFILES), 0, [])
    assert len(transitions) == len(set(transitions))
    assert set(transitions) == {(profile_id, segment) for segment, profile_id in _memberships(stack)}
    assert _memberships(stack) == FIRST_MEMBERSHIPS | FIRST_RULES
    assert all("pending_transitions" not in _profile(stack, profile_id) for profile_id in PROFILES)


def _put_curated(stack: LocalStack, key: str, table: pa.Table, **write_options: Any) -> None:
    body = io.BytesIO()
    pq.write_table(table, body, **write_options)
    stack.client("s3").put_object(Bucket=stack.physical_id("CuratedBucket"), Key=key, Body=body.getvalue())


def test_curated_labels_are_read_dictionary_encoded_with_one_dictionary_across_objects(stack: LocalStack) -> None:
    # Given: a day of order lines as the curated writer leaves them (dictionary pages), and an older day written with
    # plain pages and its categories as numbers
    at = pa.array([NOW - DAY, NOW - DAY], pa.timestamp("us", tz="UTC"))
    _put_curated(stack, "orders/dt=2026-01-02/f-000000.parquet", pa.table({
        "customer_id": ["c1", "c2"], "order_id": ["o1", "o2"], "ordered_at": at, "status": ["completed", "cancelled"],
        "category": ["shoes", "bags"], "line_amount": [10.0, 20.0]}))  # fmt: skip
    _put_curated(stack, "orders/dt=2026-01-01/f-000000.parquet", pa.table({
        "customer_id": ["c3", "c1"], "order_id": ["o3", "o4"], "ordered_at": at, "status": ["refunded", "completed"],
        "category": [7, None], "line_amount": [5.0, 7.0]}), use_dictionary=False)  # fmt: skip
    # When
    lines = CuratedParquet(stack.physical_id("CuratedBucket")).order_lines(
        BehaviourRequest(["customer_id", "status", "category", "line_amount"], None))
    # Then: the labels are dictionary-encoded, share one dictionary, and group as text would
    assert {lines.schema.field(name).type for name in ("status", "category")} == {pa.dictionary(pa.int32(), pa.string())}
    assert lines["status"].to_pylist() == ["refunded", "completed", "completed", "cancelled"]
    assert lines["category"].to_pylist() == ["7", None, "shoes", "bags"]
    assert all(chunk.dictionary.equals(lines["status"].chunks[0].dictionary) for chunk in lines["status"].chunks)
    totals = lines.group_by("status").aggregate([("line_amount", "sum")]).to_pylist()
    assert sorted((row["status"], row["line_amount_sum"]) for row in totals) == [
        ("cancelled", 20.0), ("completed", 17.0), ("refunded", 5.0)]  # fmt: skip
