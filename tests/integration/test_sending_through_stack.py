"""The sending service through the template-driven local stack: every rule via SendMessageFunction, the frequency
cap with deferral and expiry, quiet hours in several time zones, exactly once under retries, a crash and concurrent
senders, each channel (SES v2 raw MIME, SNS SMS, SNS mobile push, a signed webhook to a local receiver), the
deferred-message sweeper on its schedule, and the curated `messages` rows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes
from functools import partial
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow.parquet as pq
import pytest
from cdp.adapters.channels import SesEmail
from cdp.adapters.clients import ssm_parameters
from cdp.adapters.curated_stream import CuratedStreams
from cdp.adapters.message_events import CuratedMessageEvents
from cdp.adapters.privacy_store import PrivacyStore
from cdp.adapters.send_records import DeferredMessageTable, SendRecordTable
from cdp.adapters.suppression_store import SuppressionStore
from cdp.messaging.requests import MessageRequest
from cdp.messaging.rules import FrequencyCap, QuietHours
from cdp.messaging.service import SendingParts, send_message
from cdp.messaging.suppression import Suppressions
from cdp.messaging.templates import shipped_templates
from cdp.messaging.unsubscribe import SignedLinks, verified_token
from cdp_local.dynamodb_access import CallRecorder, StackPolicies
from cdp_local.sms_delivery_logs import delivery_status, log_group, subscription_event
from cdp_local.stack import ACCOUNT_ID, LOCAL_ERASURE_SALT, LOCAL_UNSUBSCRIBE_KEYS, LocalStack
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from tests.fakes import WindowsReadTogether, run_together

WEBHOOK_SECRET = "local-webhook-secret"
AFTERNOON = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)  # 14:00 London, 15:00 Berlin, 22:00 Shanghai, 06:00 LA
ANN = {
    "profile_id": "ann", "email": "ann@example.com", "phone": "+447700900123", "first_name": "Ann",
    "timezone": "Europe/London", "language": "en", "cart_status": "open",
    "consent": {"email:marketing": {"granted": True}, "sms:marketing": {"granted": True},
                "push:marketing": {"granted": True}, "webhook:marketing": {"granted": True}},
}  # fmt: skip


class Receiver(BaseHTTPRequestHandler):
    """A shop's webhook endpoint: accepts a call only if its signature verifies."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers["X-CDP-Timestamp"]
        expected = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(self.headers["X-CDP-Signature"], f"sha256={expected}")
        self.send_response(204 if valid else 401)
        self.end_headers()
        if valid:
            Receiver.received.append(json.loads(body))

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def shared_stack(receiver: HTTPServer) -> Iterator[LocalStack]:
    """One stack for the module (a stack takes seconds to deploy): each test messages its own profile."""
    url = f"http://127.0.0.1:{receiver.server_address[1]}/messages"
    with LocalStack(parameters={"WebhookUrl": url}) as local_stack:
        local_stack.client("ssm").put_parameter(Name="/cdp/webhook-secret", Value=WEBHOOK_SECRET, Type="SecureString")
        yield local_stack


@pytest.fixture
def stack(shared_stack: LocalStack) -> Iterator[LocalStack]:
    Receiver.received = []
    shared_stack.clock_offset = timedelta(0)
    yield shared_stack


@pytest.fixture(autouse=True)
def ann_of_this_test(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ann, under a profile id, email and phone of this test's own (the stack is shared by the module)."""
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:10]
    phone = f"+4477009{int(digest, 16) % 100000:05d}"
    monkeypatch.setitem(ANN, "profile_id", f"ann-{digest}")
    monkeypatch.setitem(ANN, "email", f"ann-{digest}@example.com")
    monkeypatch.setitem(ANN, "phone", phone)


def put_profile(stack: LocalStack, **attributes: Any) -> str:
    item = {**ANN, **attributes}
    stack.client("dynamodb")  # the table resource below shares the stack's mock
    PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable")).profiles.put_item(
        Item={"pk": f"PROFILE#{item['profile_id']}", "sk": "PROFILE", **{k: v for k, v in item.items() if v is not None}}
    )
    return str(item["profile_id"])


def message(**change: Any) -> dict[str, Any]:
    """A request for this test's Ann (`profile_id="gone"`: an id of this test that has no profile)."""
    if change.get("profile_id") == "gone":
        change["profile_id"] = f"{ANN['profile_id']}-gone"
    return {"profile_id": ANN["profile_id"], "origin": "journey", "origin_name": "welcome", "step": "welcome_email",
            "occurrence": "run-1", "channel": "email", "template": "welcome_email",
            "context": {"coupon_code": "WELCOME10"}, **change}  # fmt: skip


def at(stack: LocalStack, moment: datetime) -> None:
    """Set the platform clock the sending service reads."""
    stack.clock_offset = moment - datetime.now(UTC)


def emails(stack: LocalStack) -> list[Any]:
    """The emails SES accepted for this test's Ann."""
    sent = ses_backends[ACCOUNT_ID][stack.region].sent_messages
    mails = [message_from_bytes(m.raw_data.encode() if isinstance(m.raw_data, str) else m.raw_data) for m in sent]
    return [mail for mail in mails if mail["To"] == ANN["email"]]


def record(stack: LocalStack, profile_id: str, key: str) -> dict[str, Any] | None:
    return SendRecordTable(stack.physical_id("ProfilesTable")).get(profile_id, key)


def message_rows(stack: LocalStack) -> list[dict[str, Any]]:
    s3 = stack.client("s3")
    bucket = stack.physical_id("CuratedBucket")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="messages/")
            for o in page.get("Contents", [])]  # fmt: skip
    rows = [row for key in keys for row in pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).to_pylist()]
    return [row for row in rows if row["profile_id"].startswith(ANN["profile_id"])]


@pytest.mark.parametrize(
    ("profile", "change", "status", "reason"),
    [
        ({}, {}, "sent", "sent"),
        ({}, {"profile_id": "gone"}, "skipped", "profile_not_found"),
        ({}, {"expires_at": "2026-12-03T13:00:00+00:00"}, "skipped", "expired"),
        ({"cart_status": "empty"}, {"guards": [{"name": "cart_still_open"}]}, "skipped", "guard:cart_still_open"),
        ({"last_order_at": "2026-12-02T10:00:00+00:00"},
         {"guards": [{"name": "no_order_since", "params": {"since": "2026-12-01T00:00:00+00:00"}}]}, "skipped",
         "guard:no_order_since"),
        ({"consent": {"email:marketing": {"granted": False}}}, {}, "skipped", "no_consent"),
        ({"consent": {}}, {"purpose": "transactional", "template": "thank_you", "context": {"order_id": "O1"}},
         "sent", "sent"),
        ({"email": None}, {}, "skipped", "no_address"),
        ({"timezone": "Asia/Shanghai"}, {}, "deferred", "quiet_hours"),
        ({}, {"channel": "fax"}, "failed", "invalid_request"),
    ],
)
def test_each_rule_through_the_send_message_function(stack: LocalStack, profile, change, status, reason) -> None:
    # Given
    put_profile(stack, **profile)
    at(stack, AFTERNOON)
    # When
    outcome = stack.invoke("SendMessageFunction", message(**change))
    # Then: the outcome, the send record and the curated row agree, and only a send reached SES
    assert (outcome["status"], outcome["reason"]) == (status, reason)
    assert len(emails(stack)) == (status == "sent")
    if reason == "invalid_request":
        assert outcome["problems"] and message_rows(stack) == []
        return
    request = MessageRequest.model_validate(message(**change))
    stored = record(stack, request.profile_id, request.key())
    if reason == "profile_not_found":  # no item under the key of someone who is not (or no longer) there
        assert stored is None
    else:
        assert stored is not None and (stored["status"], stored["reason"]) == (status, reason)
    [row] = message_rows(stack)
    assert (row["event"], row["reason"], row["message_key"], row["origin_name"]) == (status, reason, request.key(), "welcome")


def _suppressions(stack: LocalStack) -> Suppressions:
    return Suppressions(SuppressionStore(stack.physical_id("ProfilesTable")), LOCAL_ERASURE_SALT, "GB")


def test_a_suppressed_address_is_skipped(stack: LocalStack) -> None:
    # Given: Ann's address complained
    put_profile(stack)
    _suppressions(stack).add(
        ANN["profile_id"], "email", ANN["email"].upper(), "complaint", AFTERNOON
    )
    at(stack, AFTERNOON)
    # When
    outcome = stack.invoke("SendMessageFunction", message())
    # Then
    assert (outcome["status"], outcome["reason"]) == ("skipped", "suppressed:complaint")
    assert emails(stack) == []


def test_the_cap_defers_to_the_earliest_slot_and_a_deadline_expires(stack: LocalStack) -> None:
    # Given: the deployment's cap of 3 marketing emails a week, reached by three campaigns over three days
    put_profile(stack)
    for day, campaign in enumerate(("autumn", "winter", "holiday")):
        at(stack, AFTERNOON + timedelta(days=day))
        sent = stack.invoke("SendMessageFunction", message(origin="campaign", origin_name=campaign, step="send",
                                                           template="campaign_generic",
                                                           context={"headline": "New", "body": "In store"}))  # fmt: skip
        assert sent["status"] == "sent"
    # When: a journey email comes on the fourth day, and another with a deadline before a slot frees
    at(stack, AFTERNOON + timedelta(days=3))
    deferred = stack.invoke("SendMessageFunction", message(priority=90))
    expiring = stack.invoke("SendMessageFunction", message(step="nudge", expires_at="2026-12-09T00:00:00+00:00"))
    receipt = stack.invoke("SendMessageFunction", message(step="receipt", purpose="transactional",
                                                          template="thank_you", context={"order_id": "O1"}))  # fmt: skip
    # Then: deferred to when the first leaves the window (priority 90: 10 s after), the other expires, the
    # transactional one is not capped
    assert (deferred["status"], deferred["reason"]) == ("deferred", "frequency_cap")
    slot = AFTERNOON + timedelta(days=7, seconds=10)
    assert abs(datetime.fromisoformat(deferred["defer_until"]) - slot) < timedelta(seconds=30)  # the clock runs on
    assert abs(deferred["wait_seconds"] - (4 * 86400 + 10)) < 30
    assert (expiring["status"], expiring["reason"]) == ("skipped", "expired")
    assert receipt["status"] == "sent"
    # When: the journey asks again at that moment
    at(stack, datetime.fromisoformat(deferred["defer_until"]))
    # Then: it goes
    assert stack.invoke("SendMessageFunction", message(priority=90))["status"] == "sent"
    assert len(emails(stack)) == 5


@pytest.mark.parametrize(
    ("zone", "status", "opens"),
    [("Asia/Shanghai", "deferred", "2026-12-04T01:00:00+00:00"),
     ("America/Los_Angeles", "deferred", "2026-12-03T17:00:00+00:00"),
     ("Europe/Berlin", "sent", None)],
)
def test_quiet_hours_in_the_customers_time_zone(stack: LocalStack, zone: str, status: str, opens: str | None) -> None:
    # Given: 14:00 UTC is 22:00 in Shanghai, 06:00 in Los Angeles, 15:00 in Berlin
    put_profile(stack, timezone=zone)
    at(stack, AFTERNOON)
    # When
    outcome = stack.invoke("SendMessageFunction", message())
    # Then
    assert (outcome["status"], outcome["defer_until"] and datetime.fromisoformat(outcome["defer_until"])) == (
        status, opens and datetime.fromisoformat(opens))  # fmt: skip


def test_quiet_hours_use_the_zone_inferred_from_activity(stack: LocalStack) -> None:
    # Given: no time zone on the profile, but activity from 09:00 to 22:00 China time
    put_profile(stack, timezone=None, active_hours={f"{hour:02d}": 4 for hour in range(1, 14)})
    at(stack, AFTERNOON)
    # When / Then: deferred to 09:00 UTC+8
    outcome = stack.invoke("SendMessageFunction", message())
    assert datetime.fromisoformat(outcome["defer_until"]) == datetime(2026, 12, 4, 1, tzinfo=UTC)


def test_a_retried_step_sends_once(stack: LocalStack) -> None:
    # Given
    put_profile(stack)
    at(stack, AFTERNOON)
    first = stack.invoke("SendMessageFunction", message())
    # When: Step Functions retries the step, twice
    retries = [stack.invoke("SendMessageFunction", message()) for _ in range(2)]
    # Then
    assert [r["reason"] for r in retries] == ["already_sent", "already_sent"]
    assert {r["message_id"] for r in retries} == {first["message_id"]}
    assert len(emails(stack)) == 1
    assert [row["event"] for row in message_rows(stack)] == ["sent"]


def parts_of(stack: LocalStack) -> SendingParts:
    """The sending service's real adapters on the stack's resources (for calls outside a Lambda)."""
    table = stack.physical_id("ProfilesTable")
    privacy = PrivacyStore(table, stack.physical_id("LedgerTable"))
    return SendingParts(
        profiles=partial(privacy.profile_consistently, follow_redirects=True),
        records=SendRecordTable(table),
        suppressions=_suppressions(stack),
        channels={"email": SesEmail("hello@example.com", stack.physical_id("SendingConfigurationSet"))},
        unsubscribe_links=SignedLinks(
            "https://example.com/unsubscribe",
            lambda: [base64.b64decode(key) for key in json.loads(LOCAL_UNSUBSCRIBE_KEYS)],
            timedelta(days=90),
        ),
        events=CuratedMessageEvents(CuratedStreams({"messages": stack.physical_id("CuratedMessagesStream")})),
        templates=shipped_templates(),
        caps={"email": FrequencyCap(3, timedelta(days=7))},
        quiet_hours=QuietHours(time(21), time(9)),
        shop_timezone="Europe/London",
    )


def test_concurrent_senders_send_once(stack: LocalStack) -> None:
    # Given: six workers handed the same request at once (a redelivered queue message, a duplicate execution)
    put_profile(stack)
    parts = parts_of(stack)
    request = MessageRequest.model_validate(message(origin="campaign", origin_name="flash", step="send"))
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def worker() -> None:
        start.wait()
        outcomes.append(send_message(request, parts, AFTERNOON).reason)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    # When
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then
    assert sorted(outcomes) == ["already_sent"] * 5 + ["sent"]
    assert len(emails(stack)) == 1


def test_concurrent_sends_through_the_service_never_exceed_the_cap(stack: LocalStack) -> None:
    # Given: the deployment's cap of 3 marketing emails a week, and six campaigns' emails to Ann whose senders all
    # read her (empty) window from DynamoDB before any of them claims
    put_profile(stack)
    parts = parts_of(stack)
    parts = replace(parts, records=WindowsReadTogether(parts.records, senders=6))
    requests = [MessageRequest.model_validate(message(origin="campaign", origin_name=f"flash_{n}", step="send"))
                for n in range(6)]  # fmt: skip
    # When: they are sent at once
    outcomes = run_together(partial(send_message, each, parts, AFTERNOON) for each in requests)
    # Then: three go, three are deferred to the first free slot; the window holds the three sends
    assert sorted((outcome.status, outcome.reason) for outcome in outcomes) == [
        ("deferred", "frequency_cap")] * 3 + [("sent", "sent")] * 3  # fmt: skip
    assert len(emails(stack)) == 3
    assert len(SendRecordTable(stack.physical_id("ProfilesTable")).cap_window(ANN["profile_id"], "email").sends) == 3


def test_a_crash_between_claim_and_outcome_is_resolved_without_a_second_send(stack: LocalStack) -> None:
    # Given: a sender claimed the welcome email 20 minutes ago and died before recording the outcome
    put_profile(stack)
    request = MessageRequest.model_validate(message())
    assert SendRecordTable(stack.physical_id("ProfilesTable")).claim(request, "dead", AFTERNOON - timedelta(minutes=20)) is None
    at(stack, AFTERNOON)
    # When: the step is retried
    outcome = stack.invoke("SendMessageFunction", message())
    # Then: the stale claim is marked unknown, not resent
    assert (outcome["status"], outcome["reason"]) == ("failed", "unknown")
    assert record(stack, ANN["profile_id"], request.key())["status"] == "unknown"  # type: ignore[index]
    assert emails(stack) == []


def test_email_is_raw_mime_with_one_click_unsubscribe(stack: LocalStack) -> None:
    # Given
    put_profile(stack, language="zh-CN", first_name="丽")
    at(stack, AFTERNOON)
    # When
    outcome = stack.invoke("SendMessageFunction", message())
    # Then
    [mail] = emails(stack)
    assert outcome["status"] == "sent"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://example.com/unsubscribe?token=")
    keys = [base64.b64decode(key) for key in json.loads(LOCAL_UNSUBSCRIBE_KEYS)]
    token = verified_token(parse_qs(urlsplit(link).query)["token"][0], keys, datetime.now(UTC))
    assert (token.profile_id, token.channel, token.purpose) == (ANN["profile_id"], "email", "marketing")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parts = {part.get_content_type(): part.get_payload(decode=True).decode() for part in mail.walk()
             if not part.is_multipart()}  # fmt: skip
    assert "丽，您好" in parts["text/plain"] and "WELCOME10" in parts["text/html"]


def test_sms_goes_through_sns(stack: LocalStack) -> None:
    # Given
    put_profile(stack)
    at(stack, AFTERNOON)
    # When
    outcome = stack.invoke("SendMessageFunction", message(step="nudge", channel="sms", template="first_order_nudge_sms"))
    # Then
    assert outcome["status"] == "sent"
    [text] = [text for number, text in sns_backends[ACCOUNT_ID][stack.region].sms_messages.values() if number == ANN["phone"]]
    assert "WELCOME10" in text and "STOP" in text


def test_push_goes_to_the_profiles_mobile_endpoint(stack: LocalStack) -> None:
    # Given: Ann's app registered an endpoint
    sns = stack.client("sns")
    app = sns.create_platform_application(Name="shop-app", Platform="GCM", Attributes={"PlatformCredential": "key"})
    endpoint = sns.create_platform_endpoint(PlatformApplicationArn=app["PlatformApplicationArn"], Token=ANN["profile_id"])
    put_profile(stack, push_endpoint=endpoint["EndpointArn"])
    at(stack, AFTERNOON)
    # When
    outcome = stack.invoke("SendMessageFunction", message(step="cart", channel="push", template="cart_reminder_push",
                                                          context={"cart_items": ["Green tea"]}))  # fmt: skip
    # Then
    assert outcome["status"] == "sent"
    [body] = sns_backends[ACCOUNT_ID][stack.region].platform_endpoints[endpoint["EndpointArn"]].messages.values()
    assert json.loads(json.loads(body)["GCM"])["notification"] == {
        "title": "Your cart is waiting", "body": "Green tea are still in your cart."}


def test_the_webhook_is_signed_and_verified_by_the_receiver(stack: LocalStack) -> None:
    # Given
    put_profile(stack, loyalty_tier="gold")
    at(stack, AFTERNOON)
    # When
    outcome = stack.invoke("SendMessageFunction", message(step="member_day", channel="webhook",
                                                          template="member_day_webhook", context={"offer": "2x points"}))  # fmt: skip
    # Then: the receiver verified the signature and got the message
    assert outcome["status"] == "sent"
    [received] = Receiver.received
    assert (received["address"], received["message_id"]) == (ANN["profile_id"], outcome["message_id"])
    assert received["text"] == "Member day: 2x points for gold members today."


def test_a_forged_signature_is_refused_and_recorded_as_a_provider_error(stack: LocalStack) -> None:
    # Given: the secret was changed on the sending side only (and its cached value expired)
    stack.client("ssm").put_parameter(Name="/cdp/webhook-secret", Value="not-the-secret", Type="SecureString",
                                      Overwrite=True)  # fmt: skip
    ssm_parameters().clear_cache()
    put_profile(stack)
    at(stack, AFTERNOON)
    # When
    outcome = stack.invoke("SendMessageFunction", message(step="member_day", channel="webhook",
                                                          template="member_day_webhook", context={"offer": "2x"}))  # fmt: skip
    stack.client("ssm").put_parameter(Name="/cdp/webhook-secret", Value=WEBHOOK_SECRET, Type="SecureString",
                                      Overwrite=True)  # fmt: skip
    ssm_parameters().clear_cache()
    # Then
    assert (outcome["status"], outcome["reason"]) == ("failed", "provider_error:http_401")
    assert Receiver.received == []


def test_the_sweeper_sends_deferred_campaign_messages_when_due(stack: LocalStack) -> None:
    # Given: a campaign message deferred until a minute ago, and one until tomorrow
    put_profile(stack)
    deferred = DeferredMessageTable(stack.physical_id("ProfilesTable"))
    at(stack, AFTERNOON)
    due = MessageRequest.model_validate(message(origin="campaign", origin_name="sale", step="send"))
    later = MessageRequest.model_validate(message(origin="campaign", origin_name="sale", step="send", occurrence="run-2"))
    deferred.defer(due, AFTERNOON - timedelta(minutes=1))
    deferred.defer(later, AFTERNOON + timedelta(days=1))
    # When: the minute schedule fires (this test's two messages are the only ones deferred)
    stack.run_schedules()
    # Then
    assert len(emails(stack)) == 1
    assert [request.key() for request, _until in deferred.due(AFTERNOON + timedelta(days=2), 10)] == [later.key()]


def test_deferred_messages_spread_over_buckets_and_come_due_in_order(stack: LocalStack) -> None:
    # Given: forty campaign messages deferred to moments long past (before any other test's), a minute apart
    deferred = DeferredMessageTable(stack.physical_id("ProfilesTable"))
    start = datetime(2020, 1, 1, tzinfo=UTC)
    requests = [MessageRequest.model_validate(message(origin="campaign", origin_name="spread", step="send",
                                                      occurrence=f"run-{n}")) for n in range(40)]  # fmt: skip
    for n, each in enumerate(requests):
        deferred.defer(each, start + timedelta(minutes=n))
    # When: the sweeper asks for the ten due first, an hour later
    due = deferred.due(start + timedelta(hours=1), 10)
    # Then: the ten deferred earliest, in order, although they were written to many partitions
    assert [request.key() for request, _until in due] == [each.key() for each in requests[:10]]
    partitions = {item["pk"]["S"] for item in stack.client("dynamodb").scan(TableName=stack.physical_id("ProfilesTable"))["Items"]
                  if item["pk"]["S"].startswith("DEFERRED#") and "spread" in item["sk"]["S"]}  # fmt: skip
    assert len(partitions) >= 6
    # When: each is done
    for n, each in enumerate(requests):
        deferred.done(each, start + timedelta(minutes=n))
    # Then
    assert deferred.due(start + timedelta(hours=1), 10) == []


def _delivery_status(stack: LocalStack, message_id: str, response: str, success: bool) -> dict[str, Any]:
    """Hand SNS's delivery status log of one SMS to its handler, as the log group's subscription filter does."""
    log = delivery_status(message_id, ANN["phone"], response, success, AFTERNOON + timedelta(seconds=5))
    event = subscription_event(log_group(stack.region, success), [json.dumps(log)], AFTERNOON + timedelta(seconds=6))
    with CallRecorder().recording() as recorder:
        result: dict[str, Any] = stack.invoke("HandleSmsDeliveryStatusFunction", event)
    policies = StackPolicies.of(stack)
    requests = policies.requests(recorder)["HandleSmsDeliveryStatusFunction"]
    assert requests and policies.denied("HandleSmsDeliveryStatusFunction", requests) == []  # its own role allows each
    return result


def test_sms_delivery_status_marks_the_send_and_a_permanent_failure_suppresses_the_number(stack: LocalStack) -> None:
    # Given: two SMS sent to Ann through the sending service (SNS's message id kept on each send record)
    put_profile(stack)
    at(stack, AFTERNOON)
    first = MessageRequest.model_validate(message(step="nudge", channel="sms", template="first_order_nudge_sms"))
    second = first.model_copy(update={"step": "reminder"})
    sent = [stack.invoke("SendMessageFunction", request.model_dump(mode="json")) for request in (first, second)]
    assert [outcome["status"] for outcome in sent] == ["sent", "sent"]
    assert {sent[0]["message_id"], sent[1]["message_id"]} <= set(sns_backends[ACCOUNT_ID][stack.region].sms_messages)
    # When: the carrier accepts the first, and the second fails as an invalid number (each log twice: at least once)
    for _ in range(2):
        delivered = _delivery_status(stack, sent[0]["message_id"], "Message has been accepted by phone carrier", True)
        failed = _delivery_status(stack, sent[1]["message_id"], "Invalid phone number", False)
    # Then: each send record marked once, one `messages` row each, the number suppressed
    assert (delivered, failed) == ({"applied": 0, "skipped": 0}, {"applied": 0, "skipped": 0})  # the repeats
    first_record = record(stack, ANN["profile_id"], first.key()) or {}
    second_record = record(stack, ANN["profile_id"], second.key()) or {}
    assert first_record["delivered_at"] == (AFTERNOON + timedelta(seconds=5)).isoformat()
    assert second_record["bounced_reason"] == "permanent:Invalid phone number"
    feedback = [(row["event"], row["step"], row["provider_message_id"]) for row in message_rows(stack)
                if row["event"] in ("delivered", "bounced")]  # fmt: skip
    assert sorted(feedback) == [("bounced", "reminder", sent[1]["message_id"]), ("delivered", "nudge", sent[0]["message_id"])]
    assert _suppressions(stack).reason(ANN["profile_id"], "sms", ANN["phone"], purpose="transactional") == "hard_bounce"
    # When: the next SMS to Ann
    third = stack.invoke("SendMessageFunction", message(step="last_call", channel="sms", template="first_order_nudge_sms"))
    # Then: skipped, nothing published
    assert (third["status"], third["reason"]) == ("skipped", "suppressed:hard_bounce")
