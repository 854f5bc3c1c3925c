"""`make bench ONLY=realtime_segments`: event -> real-time segment entry latency, and timers fired at their minute.

Both through the local stack (the template on moto, handlers in-process). Real time: a new customer's first order of
2,000 tracked over HTTP enters `high_value` (M 5 against the stored cut points of a segment run); per call, the
request's wall time (the Segment Entered event is on the bus when it answers: it is checked on a queue afterwards)
and, apart, the pure decision (every live segment of one profile) in-process. Timers: customers whose last order
turns 30 days old, and whose birthday starts at local midnight in some IANA zone, within the next three hours; the
template's sweep function runs on simulated minute ticks over those hours, and each timer-triggered Segment Entered
is compared with the minute worked out independently here.
"""

from __future__ import annotations

import base64
import io
import json
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import boto3
from cdp.keys import identity_key, profile_key

ZONES = sorted(name for name in available_timezones() if "/" in name and not name.startswith(("Etc/", "SystemV/")))
DAY, MINUTE = timedelta(days=1), timedelta(minutes=1)
WINDOW_MINUTES = 180  # the simulated clock ticks every minute for this long


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {"p50": round(ordered[len(ordered) // 2], 3), "p95": round(ordered[int(len(ordered) * 0.95)], 3),
            "max": round(ordered[-1], 3)}  # fmt: skip


def _next_minute(moment: datetime) -> datetime:
    """The first whole minute strictly after `moment` (a condition true strictly after it holds then)."""
    return moment.replace(second=0, microsecond=0) + MINUTE


def _tick(at: datetime, region: str) -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/bench"], "detail": {}}  # fmt: skip


class _Shop:
    """The local stack's tracking API and a queue of the bus's segment events."""

    def __init__(self, stack: Any) -> None:
        from cdp_local.runner import create_local_source, http_api

        self.stack, self.api = stack, http_api(stack)
        authorization = "Basic " + base64.b64encode(f"{create_local_source(stack)}:".encode()).decode()
        self.headers = {"host": "localhost", "content-type": "application/json", "authorization": authorization}
        sqs, events = stack.client("sqs"), stack.client("events")
        self.queue_url = sqs.create_queue(QueueName="bench-segment-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        function = stack.client("lambda").get_function_configuration(FunctionName=stack.physical_id("TrackEventsFunction"))
        bus = function["Environment"]["Variables"]["EVENT_BUS_NAME"]
        events.put_rule(Name="bench-segments", EventBusName=bus, EventPattern=json.dumps({"source": ["cdp.segments"]}))
        events.put_targets(Rule="bench-segments", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])

    def call(self, path: str, body: dict[str, Any]) -> float:
        started = time.perf_counter()
        response = self.api.handle("POST", path, self.headers, json.dumps(body).encode())
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {response.body[:200]!r}")
        return elapsed

    def received(self) -> list[dict[str, Any]]:
        sqs, details = self.stack.client("sqs"), []
        while messages := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                body = json.loads(message["Body"])
                details.append({**body["detail"], "type": body["detail-type"]})
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return details

    def profile_id(self, customer_id: str) -> str:
        table = boto3.resource("dynamodb", region_name=self.stack.region).Table(self.stack.physical_id("ProfilesTable"))
        return str(table.get_item(Key=identity_key(("customer_id", customer_id)))["Item"]["profile_id"])


def _seed_segment_run(stack: Any, now: datetime) -> None:
    """Five buyers and one segment run: the RFM cut points live segments score against."""
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))
    for number in range(1, 6):
        table.put_item(Item={**profile_key(f"seed{number}"), "profile_id": f"seed{number}", "orders_count": number,
                             "revenue": 100 * number, "created_at": now.isoformat(),
                             "last_order_at": (now - number * 20 * DAY).isoformat()})  # fmt: skip
    stack.invoke("ComputeSegmentsFunction", _tick(now, stack.region))


def _realtime(shop: _Shop, now: datetime, events: int) -> dict[str, Any]:
    from cdp import wiring

    latencies, entered = [], 0
    for number in range(events + 1):
        order = {"userId": f"RT-{number}", "messageId": f"rt-{number}", "event": "Order Completed",
                 "timestamp": (now - MINUTE).isoformat(), "properties": {"order_id": f"RT-{number}", "revenue": 2000}}
        elapsed = shop.call("/v1/track", order)
        received = shop.received()
        if number == 0:
            continue  # warm-up: imports, settings, clients
        latencies.append(elapsed)
        entered += any(d["type"] == "Segment Entered" and d["segment"] == "high_value" and d["trigger"] == "realtime"
                       for d in received)  # fmt: skip
    live = wiring.live_segments()
    item = {"profile_id": "x", "orders_count": 3, "revenue": 900, "last_order_at": now.isoformat(),
            "birthday": "1990-06-01", "timezone": "Asia/Shanghai", "points_expiries": {"2027-01-01": 40}}  # fmt: skip
    decisions, decide = [], live.realtime_decisions(now)
    for _ in range(events):
        started = time.perf_counter()
        decide(item)
        decisions.append((time.perf_counter() - started) * 1000)
    return {"events": events, "entered_in_request": entered, "request_ms": _percentiles(latencies),
            "decide_ms": _percentiles(decisions), "live_segments": len(live.live)}


def _birthday_in_window(rng: random.Random, start: datetime) -> tuple[str, date, datetime]:
    """A zone and a birthday whose local midnight falls within the window after `start`, and that midnight (UTC)."""
    while True:
        zone = rng.choice(ZONES)
        local_day = start.astimezone(ZoneInfo(zone)).date() + DAY  # its next local midnight
        midnight = datetime.combine(local_day, datetime.min.time(), ZoneInfo(zone)).astimezone(UTC)
        if midnight < start + (WINDOW_MINUTES - 1) * MINUTE and (local_day.month, local_day.day) != (2, 29):
            return zone, local_day.replace(year=1990), midnight


def _timers(shop: _Shop, now: datetime, customers: int) -> dict[str, Any]:
    rng = random.Random(15)
    start = now.replace(second=0, microsecond=0)
    expected: dict[tuple[str, str], datetime] = {}
    for number in range(customers):
        last_order = start - 30 * DAY + timedelta(minutes=rng.randint(1, WINDOW_MINUTES - 2), seconds=rng.randint(0, 59))
        shop.call("/v1/track", {"userId": f"LAPSE-{number}", "messageId": f"lapse-{number}", "event": "Order Completed",
                                "timestamp": last_order.isoformat(),
                                "properties": {"order_id": f"LAPSE-{number}", "revenue": 20}})  # fmt: skip
        expected[("no_order_30_days", shop.profile_id(f"LAPSE-{number}"))] = _next_minute(last_order + 30 * DAY)
        zone, birthday, midnight = _birthday_in_window(rng, start)
        shop.call("/v1/identify", {"userId": f"BDAY-{number}", "messageId": f"bday-{number}",
                                   "traits": {"birthday": birthday.isoformat()}, "context": {"timezone": zone}})
        expected[("birthday_today", shop.profile_id(f"BDAY-{number}"))] = midnight
    shop.received()
    fired: dict[tuple[str, str], datetime] = {}
    started = time.perf_counter()
    for step in range(1, WINDOW_MINUTES + 1):
        tick = start + step * MINUTE
        shop.stack.invoke("SweepSegmentTimersFunction", _tick(tick + timedelta(seconds=2), shop.stack.region))
        for detail in shop.received():
            key = (detail["segment"], detail["profile_id"])
            if detail["type"] == "Segment Entered" and detail["trigger"] == "timer" and key in expected:
                fired.setdefault(key, tick)
    exact = sum(fired.get(key) == minute for key, minute in expected.items())
    early = sum(key in fired and fired[key] < minute for key, minute in expected.items())
    return {"timers": len(expected), "fired": len(fired), "fired_at_expected_minute": exact, "fired_early": early,
            "ticks": WINDOW_MINUTES, "sweep_ms_per_tick": round((time.perf_counter() - started) * 1000 / WINDOW_MINUTES, 3)}


def realtime_segments_figure(events: int = 100, customers: int = 40) -> dict[str, Any]:
    from cdp_local.stack import LocalStack

    now = datetime.now(UTC)
    with LocalStack(function_output=io.StringIO()) as stack:
        _seed_segment_run(stack, now)
        shop = _Shop(stack)
        realtime = _realtime(shop, now, events)
        timers = _timers(shop, now, customers)
    return {"realtime": realtime, "timers": timers,
            "note": "local stack on moto, handlers in-process: request_ms is the whole track call (compare with "
                    "http_tracking_warm), not AWS latency; timers on simulated minute ticks"}  # fmt: skip
