"""The `sending` bench figure: time per message through the sending rules, and AWS requests per message.

In process with the unit tests' in-memory fakes (the rules' own cost: profile parsing, guards, consent, cap, quiet
hours, rendering), then through the local stack's SendMessageFunction on moto (adapters included, moto's own time
too), counting the DynamoDB, SES, SNS and Firehose requests each sent and each skipped message makes.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
from cdp.messaging.requests import MessageRequest
from cdp.messaging.service import send_message

from cdp_local.operation_profile import OperationProfile, profiling_aws_operations
from cdp_local.stack import LocalStack

IN_PROCESS_MESSAGES = 20_000
LOCAL_STACK_MESSAGES = 200
PROVIDER_SERVICES = ("dynamodb", "sesv2", "sns", "firehose", "ssm")
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _profile(number: int, consenting: bool) -> dict[str, Any]:
    return {"profile_id": f"p{number}", "email": f"p{number}@example.com", "first_name": "Ann",
            "timezone": "Europe/London", "language": "zh-CN" if number % 2 else "en", "orders_count": 3,
            "points_balance": 120, "loyalty_tier": "gold", "cart_status": "open", "active_hours": {"10": 4, "20": 6},
            "consent": {"email:marketing": {"granted": consenting, "recorded_at": "2026-01-01T00:00:00+00:00"}}}  # fmt: skip


def _request(number: int) -> MessageRequest:
    return MessageRequest(profile_id=f"p{number}", origin="campaign", origin_name="bench", step="send",
                          occurrence="run-1", channel="email", template="member_day", context={"offer": "2x points"},
                          guards=[{"name": "cart_still_open"}])  # type: ignore[list-item]  # fmt: skip


def in_process(messages: int) -> dict[str, float]:
    """Milliseconds per message with fakes: half sent, half skipped for want of consent."""
    from tests.fakes import fake_sending_parts  # the unit tests' fakes: the bench runs from the repository root

    profiles = {f"p{n}": _profile(n, consenting=n % 2 == 0) for n in range(messages)}
    parts = fake_sending_parts(profiles)
    requests = [_request(n) for n in range(messages)]
    started = time.perf_counter()
    outcomes = Counter(send_message(request, parts, NOON).status for request in requests)
    seconds = time.perf_counter() - started
    return {"messages": messages, "sent": outcomes["sent"], "skipped": outcomes["skipped"],
            "per_message_ms": round(seconds * 1000 / messages, 3)}  # fmt: skip


def through_local_stack(messages: int) -> dict[str, Any]:
    """Milliseconds per message through SendMessageFunction on moto, and requests per sent and skipped message."""
    figures: dict[str, Any] = {"messages_per_kind": messages}
    with LocalStack() as stack:
        profiles = boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical_id("ProfilesTable"))
        with profiles.batch_writer() as batch:
            for number in range(2 * messages):
                batch.put_item(Item={"pk": f"PROFILE#p{number}", "sk": "PROFILE",
                                     **_profile(number, consenting=number < messages)})  # fmt: skip
        stack.clock_offset = NOON - datetime.now(UTC)
        for kind, numbers in (("sent", range(messages)), ("skipped", range(messages, 2 * messages))):
            profile = OperationProfile()
            started = time.perf_counter()
            with profiling_aws_operations(profile):
                statuses = Counter(stack.invoke("SendMessageFunction", _request(n).model_dump(mode="json"))["status"]
                                   for n in numbers)  # fmt: skip
            seconds = time.perf_counter() - started
            assert statuses == {kind: messages}, statuses
            requests = {name: tally.count for name, tally in profile.tallies.items()
                        if name.split(".")[0] in PROVIDER_SERVICES}  # fmt: skip
            figures[kind] = {
                "per_message_ms": round(seconds * 1000 / messages, 2),
                "requests_per_message": {name: round(count / messages, 2) for name, count in sorted(requests.items())},
            }
    figures["note"] = "moto in process: request counts are what AWS would see; times are moto's, not AWS latency"
    return figures


def sending_figure() -> dict[str, Any]:
    return {"in_process_fakes": in_process(IN_PROCESS_MESSAGES), "local_stack_moto": through_local_stack(LOCAL_STACK_MESSAGES)}
