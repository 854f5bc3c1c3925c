"""SNS SMS delivery status logs (the documented CloudWatch Logs shapes) applied to send records, the suppression list
and `messages` rows; malformed and hostile log events are skipped and counted by the handler, never a crash."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from cdp.messaging.feedback import FeedbackParts
from cdp.messaging.sms_feedback import SmsDeliveryStatus, apply_sms_delivery_status
from cdp.messaging.suppression import Suppressions
from cdp_local.sms_delivery_logs import delivery_status, log_group, subscription_event
from cdp_local.template import REPO_ROOT
from fakes import FakeMessageEvents, FakeSendRecords
from pydantic import ValidationError
from test_email_feedback import FakeStore

KEY = "campaign#winter_sale#send#run-1"
SNS_ID = "34d9b400-c6dd-5444-820d-fbeb0f1f54cf"
NUMBER = "+447700900123"
AT = datetime(2026, 12, 1, 10, 0, 0, 558000, tzinfo=UTC)
DOCUMENTED = json.loads((REPO_ROOT / "events" / "sns_sms_delivery_failure.json").read_text())


@pytest.fixture
def parts() -> FeedbackParts:
    record = {"profile_id": "p-1", "status": "sent", "variant": "main", "channel": "sms", "purpose": "marketing",
              "template": "winter_sale_sms", "provider_message_id": SNS_ID}  # fmt: skip
    return FeedbackParts(FakeSendRecords(records={("p-1", KEY): record}), Suppressions(FakeStore(), "salt", "GB"),
                         FakeMessageEvents())  # fmt: skip


CONTEXT = SimpleNamespace(function_name="handle-sms-delivery-status", memory_limit_in_mb=512, aws_request_id="r",
                          invoked_function_arn="arn:aws:lambda:eu-west-1:1:function:handle-sms-delivery-status")  # fmt: skip


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    from cdp.observability import metrics

    monkeypatch.setattr(metrics, "namespace", "CustomerDataPlatform")
    spec = importlib.util.spec_from_file_location("sms_status_app", REPO_ROOT / "functions/handle_sms_delivery_status/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _status(response: str, success: bool = False, message_id: str = SNS_ID) -> SmsDeliveryStatus:
    return SmsDeliveryStatus.model_validate(delivery_status(message_id, NUMBER, response, success, AT))


def test_the_documented_failure_log_parses_with_its_utc_timestamp() -> None:
    # When
    status = SmsDeliveryStatus.model_validate(DOCUMENTED)
    # Then
    assert status.status == "FAILURE"
    assert status.notification.messageId == "1077257a-92f3-5ca3-bc97-6a915b310625"
    assert status.notification.timestamp == datetime(2026, 12, 1, 10, 0, 0, 558000, tzinfo=UTC)
    assert (status.event(), status.reason(), status.suppression()) == ("bounced", "permanent:Invalid phone number", "hard_bounce")


@pytest.mark.parametrize(
    ("response", "success", "event", "reason", "suppression"),
    [
        ("Message has been accepted by phone carrier", True, "delivered", "Message has been accepted by phone carrier", None),
        ("Phone number is opted out", False, "bounced", "permanent:Phone number is opted out", "sms_opt_out"),
        ("Invalid phone number", False, "bounced", "permanent:Invalid phone number", "hard_bounce"),
        ("Destination is on a blocked list", False, "bounced", "permanent:Destination is on a blocked list", "hard_bounce"),
        ("Phone is blacklisted", False, "bounced", "permanent:Phone is blacklisted", "hard_bounce"),
        ("Phone has blocked SMS", False, "bounced", "permanent:Phone has blocked SMS", "hard_bounce"),
        ("Phone is currently unreachable/unavailable", False, "bounced", "transient:Phone is currently unreachable/unavailable", None),
        ("Unknown error attempting to reach phone", False, "bounced", "transient:Unknown error attempting to reach phone", None),
        ("Blocked as spam by phone carrier", False, "bounced", "transient:Blocked as spam by phone carrier", None),
        ("This delivery would exceed max price", False, "bounced", "transient:This delivery would exceed max price", None),
        ("Message body is invalid", False, "bounced", "transient:Message body is invalid", None),
    ],
)
def test_each_documented_response_is_classified(
    response: str, success: bool, event: str, reason: str, suppression: str | None
) -> None:
    # When
    status = _status(response, success)
    # Then
    assert (status.event(), status.reason(), status.suppression()) == (event, reason, suppression)


def test_a_success_marks_the_record_and_writes_one_delivered_row(parts: FeedbackParts) -> None:
    # When: the same log event twice (a subscription delivers at least once)
    first = apply_sms_delivery_status(_status("Message has been accepted by phone carrier", success=True), parts)
    again = apply_sms_delivery_status(_status("Message has been accepted by phone carrier", success=True), parts)
    # Then
    record = parts.records.get("p-1", KEY) or {}
    assert (first.applied, again.applied, first.suppressed) == (True, False, 0)
    assert record["delivered_at"] == AT.isoformat()
    rows: list[dict[str, Any]] = parts.events.rows  # type: ignore[attr-defined]
    assert [(row["event"], row["channel"], row["provider_message_id"], row["origin_name"]) for row in rows] == [
        ("delivered", "sms", SNS_ID, "winter_sale")
    ]


def test_a_permanent_failure_suppresses_the_number_and_a_passing_one_does_not(parts: FeedbackParts) -> None:
    # When
    passing = apply_sms_delivery_status(_status("Phone is currently unreachable/unavailable"), parts)
    # Then: recorded, nobody suppressed
    assert (passing.event, passing.applied, passing.suppressed) == ("bounced", True, 0)
    assert parts.suppressions.reason("p-1", "sms", NUMBER) is None
    # When: the number opted out (a later message's log, untracked by us)
    opted_out = apply_sms_delivery_status(_status("Phone number is opted out", message_id="other"), parts)
    # Then: suppressed for every purpose, in its national form too
    assert (opted_out.untracked, opted_out.suppressed) == (True, 1)
    assert parts.suppressions.reason("p-1", "sms", "07700 900123", purpose="transactional") == "sms_opt_out"
    assert (parts.records.get("p-1", KEY) or {})["bounced_reason"] == "transient:Phone is currently unreachable/unavailable"


@pytest.mark.parametrize(
    "log",
    [
        {"notification": {"messageId": SNS_ID, "timestamp": "2016-06-28 00:40:34.558"}, "status": "SUCCESS"},
        {**DOCUMENTED, "status": "MAYBE"},
        {**DOCUMENTED, "notification": {"messageId": "", "timestamp": "2016-06-28 00:40:34.558"}},
        {**DOCUMENTED, "notification": {"messageId": SNS_ID, "timestamp": "yesterday"}},
        {**DOCUMENTED, "delivery": {**DOCUMENTED["delivery"], "destination": "+4" * 500}},
        {**DOCUMENTED, "delivery": {**DOCUMENTED["delivery"], "providerResponse": {"$ne": None}}},
    ],
)
def test_a_log_event_that_is_no_delivery_status_is_refused(log: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SmsDeliveryStatus.model_validate(log)


def test_the_handler_skips_and_counts_hostile_log_events_and_applies_the_rest(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: one good log event among garbage, in one subscription batch
    from cdp import wiring

    parts = FeedbackParts(FakeSendRecords(), Suppressions(FakeStore(), "salt", "GB"), FakeMessageEvents())
    monkeypatch.setattr(wiring, "feedback_parts", lambda: parts)
    good = json.dumps(delivery_status("m-1", NUMBER, "Invalid phone number", False, AT))
    messages = [good, "not json", "[]", "null", '{"status": "FAILURE"}', "{" * 10_000, json.dumps({**DOCUMENTED, "status": 1})]
    event = subscription_event(log_group("eu-west-1", success=False), messages, AT)
    # When
    result = app.handler(event, CONTEXT)
    # Then: the good one suppressed its number (no record of ours), the six others skipped
    assert result == {"applied": 0, "skipped": 6}
    assert parts.suppressions.reason("p", "sms", NUMBER) == "hard_bounce"


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"awslogs": {"data": "bm90IGd6aXA="}},  # base64 of "not gzip"
        {"awslogs": {"data": "%%%"}},
        {"Records": []},
    ],
)
def test_the_handler_answers_a_payload_that_is_no_subscription_batch_without_crashing(
    app: ModuleType, event: dict[str, Any]
) -> None:
    assert app.handler(event, CONTEXT) == {"applied": 0, "skipped": 1}


def test_a_control_message_is_ignored(app: ModuleType) -> None:
    event = subscription_event(log_group("eu-west-1", True), ["CWL CONTROL MESSAGE: Checking health of destination"], AT,
                               message_type="CONTROL_MESSAGE")  # fmt: skip
    assert app.handler(event, CONTEXT) == {"applied": 0, "skipped": 0}
