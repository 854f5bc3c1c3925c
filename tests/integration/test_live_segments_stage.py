"""Live segments on the local stack: an order tracked over HTTP enters a segment in the same request (written in the
transaction that writes its record, or just after when that one is full), a replay announces nothing, and the
template's minute sweep fires a timer at its minute, not before."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from cdp.keys import TIMERS_SWEPT_KEY, profile_key, segment_member_key
from cdp.segments.timers import bucket_of, minute_of
from cdp_local.runner import create_local_source, http_api
from cdp_local.stack import LocalStack

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
# Buyers the segment run scores first (its cut points put revenue above 400 in M 5)
BUYERS = {f"b{n}": (n, 100 * n) for n in range(1, 6)}  # profile id: (orders, revenue)


def _table(stack: LocalStack) -> Any:
    return boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))


def _listen(stack: LocalStack) -> str:
    """A queue receiving every cdp.segments event of the platform's bus."""
    sqs, events = stack.client("sqs"), stack.client("events")
    queue_url = sqs.create_queue(QueueName="live-segment-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    function = stack.client("lambda").get_function_configuration(FunctionName=stack.physical_id("TrackEventsFunction"))
    bus = function["Environment"]["Variables"]["EVENT_BUS_NAME"]
    events.put_rule(Name="live-segments", EventBusName=bus, EventPattern=json.dumps({"source": ["cdp.segments"]}))
    events.put_targets(Rule="live-segments", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url


def _received(stack: LocalStack, queue_url: str, with_profile: bool = False) -> list[tuple[str, ...]]:
    """(detail-type, segment, trigger[, profile id]) of each event queued so far, draining the queue."""
    sqs, received = stack.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            detail = body["detail"]
            event = (body["detail-type"], detail["segment"], detail.get("trigger", "scheduled"))
            received.append((*event, detail["profile_id"]) if with_profile else event)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(received)


@pytest.fixture
def shop(stack: LocalStack) -> Any:
    """The stack after one segment run over five buyers (so RFM cut points are stored), with a tracking source."""
    for profile_id, (orders, revenue) in BUYERS.items():
        _table(stack).put_item(Item={**profile_key(profile_id), "profile_id": profile_id, "created_at": NOW.isoformat(),
                                     "orders_count": orders, "revenue": revenue,
                                     "last_order_at": (NOW - orders * 20 * DAY).isoformat()})  # fmt: skip
    stack.invoke("ComputeSegmentsFunction", _tick(stack, NOW))
    api, write_key = http_api(stack), create_local_source(stack)
    authorization = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()

    def track(call: dict[str, Any], path: str = "/v1/track") -> Any:
        headers = {"content-type": "application/json", "authorization": authorization, "host": "localhost"}
        return api.handle("POST", path, headers, json.dumps(call).encode())

    return track


def _tick(stack: LocalStack, at: datetime) -> dict[str, Any]:
    """The scheduled event EventBridge sends at `at`."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": stack.region,
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/tick"], "detail": {}}  # fmt: skip


def _order(message_id: str, order_id: str, revenue: float, at: datetime) -> dict[str, Any]:
    return {"userId": "C-9", "messageId": message_id, "event": "Order Completed", "timestamp": at.isoformat(),
            "properties": {"order_id": order_id, "revenue": revenue, "currency": "EUR"}}  # fmt: skip


def test_an_order_enters_high_value_in_the_same_request_and_a_replay_announces_nothing(
    stack: LocalStack, shop: Any
) -> None:
    # Given a queue listening to segment events
    queue_url = _listen(stack)
    # When a new customer's first order of 2,000 is tracked
    response = shop(_order("m-1", "O-1", 2000, NOW - timedelta(minutes=5)))
    # Then, by the time the request has answered, high_value (M 5 against the run's cut points) is entered in real time
    assert response.status == 200, response.body
    received = _received(stack, queue_url)
    assert ("Segment Entered", "high_value", "realtime") in received
    assert ("Segment Entered", "one_time_buyers", "realtime") in received
    assert all(trigger == "realtime" and kind == "Segment Entered" for kind, _, trigger in received)
    member = [item for item in _table(stack).scan()["Items"]  # those the scheduled run placed before are left alone
              if item["pk"] == "SEGMENT#high_value" and item.get("trigger") != "scheduled"]
    assert [(m["trigger"], m["sk"]) for m in member] == [("realtime", segment_member_key("high_value", m["profile_id"])["sk"])
                                                          for m in member]  # fmt: skip
    # When the same call is replayed, and the same order is sent again under a new message id
    shop(_order("m-1", "O-1", 2000, NOW - timedelta(minutes=5)))
    shop(_order("m-2", "O-1", 2000, NOW - timedelta(minutes=5)))
    # Then nothing more is announced
    assert _received(stack, queue_url) == []
    # When the scheduled run comes after, it finds C-9's memberships stored and announces them no second time
    stack.invoke("ComputeSegmentsFunction", _tick(stack, NOW))
    announced = [event for event in _received(stack, queue_url, with_profile=True) if event[1] == "high_value"]
    # (b5's 500 is no longer in the top fifth once C-9's 2,000 counts: the run may rightly announce that exit)
    assert set(announced) <= {("Segment Exited", "high_value", "scheduled", "b5")}


def test_the_minute_sweep_fires_no_order_for_30_days_at_its_minute_and_not_before(stack: LocalStack, shop: Any) -> None:
    # Given a customer whose only order was 29 days ago
    ordered_at = NOW - 29 * DAY
    shop(_order("m-1", "O-1", 20, ordered_at))
    queue_url = _listen(stack)
    due = minute_of(bucket_of(ordered_at + 30 * DAY))
    timers = [item for item in _table(stack).scan()["Items"] if item["pk"] == f"TIMER#{bucket_of(due)}"]
    assert "no_order_30_days" in {timer["segment"] for timer in timers}
    # When the template's sweep runs on the ticks of the two minutes before
    for minutes_before in (2, 1):
        stack.invoke("SweepSegmentTimersFunction", _tick(stack, due - timedelta(minutes=minutes_before)))
    # Then nothing fires
    assert _received(stack, queue_url) == []
    # When its own minute's tick is missed and the next one comes
    result = stack.invoke("SweepSegmentTimersFunction", _tick(stack, due + timedelta(minutes=1, seconds=3)))
    # Then the missed minute is caught up and the segment entered, by timer, once
    assert result["buckets"] == [bucket_of(due), bucket_of(due + timedelta(minutes=1))]
    received = _received(stack, queue_url)
    assert ("Segment Entered", "no_order_30_days", "timer") in received
    assert len(received) == len(set(received)) and {trigger for _, _, trigger in received} == {"timer"}
    assert _table(stack).get_item(Key=TIMERS_SWEPT_KEY)["Item"]["swept_minute"] == bucket_of(due + timedelta(minutes=1))
    stack.invoke("SweepSegmentTimersFunction", _tick(stack, due + timedelta(minutes=2)))
    assert _received(stack, queue_url) == []


def _transactions(monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    """Every TransactWriteItems the profile and live-segment stores send from now on (their writes), recorded."""
    from cdp.adapters import live_segment_store, profile_store

    sent: list[list[dict[str, Any]]] = []

    def recorded(send: Any) -> Any:
        def send_and_record(writes: list[dict[str, Any]]) -> Any:
            sent.append(writes)
            return send(writes)

        return send_and_record

    monkeypatch.setattr(profile_store, "transact", recorded(profile_store.transact))
    monkeypatch.setattr(live_segment_store, "transact", recorded(live_segment_store.transact))
    return sent


def _profile_updates(sent: list[list[dict[str, Any]]]) -> list[str]:
    """The update expression of each profile-item update among the transactions sent."""
    return [write["Update"]["UpdateExpression"] for writes in sent for write in writes
            if "Update" in write and write["Update"]["Key"]["sk"]["S"] == "PROFILE"]  # fmt: skip


def test_an_order_and_the_segments_it_makes_the_profile_enter_are_written_in_one_transaction(
    stack: LocalStack, shop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queue listening to segment events, and the transactions recorded
    queue_url = _listen(stack)
    sent = _transactions(monkeypatch)
    # When a new customer's first order is tracked
    assert shop(_order("m-1", "O-1", 2000, NOW - timedelta(minutes=5))).status == 200
    # Then every write of the profile was one of its records' transactions (the order's and its event's), and the
    # one that changed its memberships wrote them with the record, the timers and the segment items
    assert all("ADD aggregates_version" in update for update in _profile_updates(sent))
    [writes] = [writes for writes in sent if any("memberships =" in update for update in _profile_updates([writes]))]
    keys = [(write.get("Put") or write.get("Delete") or {}).get("Item", {}).get("pk", {}).get("S", "") for write in writes]
    assert any(key.startswith("RECORD#") for key in keys) and "SEGMENT#high_value" in keys
    assert any(key.startswith("TIMER#") for key in keys)
    # And the events are those of the membership written
    assert ("Segment Entered", "high_value", "realtime") in _received(stack, queue_url)


def test_a_profile_whose_records_fill_the_transaction_is_decided_in_a_write_of_its_own(
    stack: LocalStack, shop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queue listening to segment events, and the transactions recorded
    queue_url = _listen(stack)
    sent = _transactions(monkeypatch)
    # When 99 orders of one new customer arrive in one batch call (99 records leave no room beside the profile)
    calls = [{**_order(f"m-{n}", f"O-{n}", 30, NOW - timedelta(minutes=n)), "type": "track"} for n in range(1, 100)]
    assert shop({"batch": calls}, path="/v1/batch").status == 200
    # Then the first entity's records and the profile filled a transaction, and the memberships went in the next
    assert len(sent[0]) == 100 and len(sent[1]) < 100
    first, second = (_profile_updates([writes]) for writes in sent[:2])
    assert "memberships" not in first[0] and second[0].startswith("SET memberships")
    # And the segments entered are announced as in one transaction
    assert ("Segment Entered", "high_value", "realtime") in _received(stack, queue_url)
