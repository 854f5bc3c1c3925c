"""Unsubscribe links, SMS STOP and SES feedback through the template-driven local stack: the public
/v1/unsubscribe routes, the scheduled opt-out sync, and SES events published to the configuration set's topic."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from cdp.adapters.clients import ssm_parameters
from cdp.adapters.privacy_store import PrivacyStore
from cdp.adapters.suppression_store import SuppressionStore
from cdp.keys import message_record_key
from cdp.messaging.feedback import message_tag_value
from cdp.messaging.suppression import Suppressions
from cdp.messaging.unsubscribe import UnsubscribeToken
from cdp_local.runner import http_api
from cdp_local.ses_feedback import SentEmail, bounce_event
from cdp_local.stack import LOCAL_UNSUBSCRIBE_KEYS, UNSUBSCRIBE_KEYS_PARAMETER, LocalStack
from moto.sns.models import sns_backends

from tests.integration.privacy_flow import ANN_PHONE, CUSTOMERS, SALT, drop, profile_of, table_items

LOCAL_KEY = base64.b64decode(json.loads(LOCAL_UNSUBSCRIBE_KEYS)[0])
FORM = {"content-type": "application/x-www-form-urlencoded", "host": "localhost"}


@pytest.fixture
def ann(stack: LocalStack) -> dict[str, Any]:
    """Ann's profile (email and SMS marketing granted), from a customers file."""
    drop(stack, "customers/customers.csv", CUSTOMERS)
    stack.wait_for_executions(timeout=60)
    return profile_of(stack, "C1")


def _token(profile_id: str, channel: str = "email", key: bytes = LOCAL_KEY, days: float = 90) -> str:
    return UnsubscribeToken(profile_id, channel, "marketing", datetime.now(UTC) + timedelta(days=days)).signed(key)


def _call(stack: LocalStack, method: str, token: str | None, body: bytes = b"", headers: dict[str, str] | None = None):
    path = "/v1/unsubscribe" + (f"?{urlencode({'token': token})}" if token is not None else "")
    return http_api(stack).handle(method, path, headers or FORM, body)


def _suppressions(stack: LocalStack) -> Suppressions:
    return Suppressions(SuppressionStore(stack.physical_id("ProfilesTable")), SALT, "GB")


def test_the_preference_page_renders_self_contained(stack: LocalStack, ann: dict[str, Any]) -> None:
    # When: Ann opens the link of a marketing email
    response = _call(stack, "GET", _token(ann["profile_id"]), headers={"host": "localhost"})
    # Then: a page with her current choices, no script, no external resource, no referrer, no cache
    page, headers = response.body.decode(), {name.lower(): value for name, value in response.headers.items()}
    assert response.status == 200
    assert headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"]
    assert (headers["referrer-policy"], headers["cache-control"]) == ("no-referrer", "no-store")
    assert 'value="email:marketing" checked' in page and 'value="sms:marketing" checked' in page
    assert 'value="push:marketing">' in page
    assert "<script" not in page and "http" not in page.replace('action="?token=', "")


def test_one_click_unsubscribes_before_the_next_send_and_a_replay_is_refused(
    stack: LocalStack, ann: dict[str, Any]
) -> None:
    # Given: the link of a marketing email
    token = _token(ann["profile_id"])
    # When: her mail provider posts RFC 8058's one-click body (multipart/form-data, as the RFC prefers)
    body = b'--B\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--B--\r\n'
    response = _call(stack, "POST", token, body, {"content-type": "multipart/form-data; boundary=B", "host": "x"})
    # Then: consent is withdrawn (a statement of the one-click source) and the address suppressed
    assert response.status == 200
    consent = profile_of(stack, "C1")["consent"]["email:marketing"]
    assert (consent["granted"], consent["source"]) == (False, "one_click_unsubscribe")
    assert _suppressions(stack).reason(ann["profile_id"], "email", ann["email"]) == "unsubscribed"
    assert _suppressions(stack).reason(ann["profile_id"], "email", ann["email"], purpose="transactional") is None
    assert profile_of(stack, "C1")["consent"]["sms:marketing"]["granted"] is True  # other channels untouched
    # When: the same one-click request is replayed (urlencoded this time)
    replay = _call(stack, "POST", token, b"List-Unsubscribe=One-Click")
    # Then: refused as already used, nothing recorded again
    assert replay.status == 409
    statements = PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable")).consent_history(ann["profile_id"])
    assert sum(s["source"] == "one_click_unsubscribe" for s in statements) == 1


def test_the_preference_form_withdraws_and_grants_again(stack: LocalStack, ann: dict[str, Any]) -> None:
    token = _token(ann["profile_id"])
    # When: she unticks everything but SMS
    response = _call(stack, "POST", token, b"form=preferences&consent=sms%3Amarketing")
    # Then
    consent = profile_of(stack, "C1")["consent"]
    assert response.status == 200
    assert (consent["email:marketing"]["granted"], consent["sms:marketing"]["granted"]) == (False, True)
    assert _suppressions(stack).reason(ann["profile_id"], "email", ann["email"]) == "unsubscribed"
    # When: she ticks email again on the same page
    _call(stack, "POST", token, b"form=preferences&consent=sms%3Amarketing&consent=email%3Amarketing")
    # Then: granted, and the unsubscribe suppression is lifted
    assert profile_of(stack, "C1")["consent"]["email:marketing"]["granted"] is True
    assert _suppressions(stack).reason(ann["profile_id"], "email", ann["email"]) is None


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (lambda pid: _token(pid, days=-1), 410),  # expired
        (lambda pid: _token(pid, key=b"k" * 32), 403),  # forged: another key
        (lambda pid: _token(pid)[:-3] + "AAA", 403),  # tampered signature
        (lambda pid: "not-a-token", 400),
        (lambda pid: None, 400),  # no token at all
        (lambda pid: _token("nobody-here"), 404),  # a profile that does not exist (or was erased)
    ],
)
def test_bad_links_answer_a_clear_4xx(stack: LocalStack, ann: dict[str, Any], token: Any, status: int) -> None:
    for method, body in (("GET", b""), ("POST", b"List-Unsubscribe=One-Click")):
        response = _call(stack, method, token(ann["profile_id"]), body)
        assert response.status == status, (method, response.body)
        assert "error" in json.loads(response.body)
    assert profile_of(stack, "C1")["consent"]["email:marketing"]["granted"] is True


def test_a_post_that_is_neither_one_click_nor_the_form_is_refused(stack: LocalStack, ann: dict[str, Any]) -> None:
    token = _token(ann["profile_id"])
    for body, headers in ((b"List-Unsubscribe=Yes", FORM), (b"{}", {"content-type": "application/json"}),
                          (b"form=preferences&consent=fax%3Amarketing", FORM), (b"a=" + b"x" * 20000, FORM)):
        assert 400 <= _call(stack, "POST", token, body, headers).status < 500


def test_a_rotated_key_keeps_recent_links_working(stack: LocalStack, ann: dict[str, Any]) -> None:
    # Given: a link signed before the rotation, then a new key put first in the parameter
    before = _token(ann["profile_id"])
    new_key = b"n" * 32
    keys = [base64.b64encode(new_key).decode(), json.loads(LOCAL_UNSUBSCRIBE_KEYS)[0]]
    stack.client("ssm").put_parameter(Name=UNSUBSCRIBE_KEYS_PARAMETER, Value=json.dumps(keys), Type="SecureString", Overwrite=True)
    ssm_parameters().clear_cache()  # a new container (or five minutes later)
    # Then: both the old link and one signed with the new key work
    assert _call(stack, "GET", before, headers={"host": "x"}).status == 200
    assert _call(stack, "GET", _token(ann["profile_id"], key=new_key), headers={"host": "x"}).status == 200
    # When: the old key is retired
    stack.client("ssm").put_parameter(Name=UNSUBSCRIBE_KEYS_PARAMETER, Value=json.dumps(keys[:1]), Type="SecureString", Overwrite=True)
    ssm_parameters().clear_cache()
    # Then: its links are refused
    assert _call(stack, "GET", before, headers={"host": "x"}).status == 403


def test_stop_replies_become_sms_withdrawals_and_suppressions_once(stack: LocalStack, ann: dict[str, Any]) -> None:
    # Given: Ann replied STOP (her number is on the account's SNS opt-out list, beside moto's own sample numbers)
    sns_backends["123456789012"][stack.region].opt_out_numbers.append(ANN_PHONE)
    # When: the scheduled sync runs, twice
    first = stack.invoke("SyncSmsOptOutsFunction", {})
    second = stack.invoke("SyncSmsOptOutsFunction", {})
    # Then: her SMS marketing consent is withdrawn and her number suppressed; the second run records nothing
    consent = profile_of(stack, "C1")["consent"]["sms:marketing"]
    assert (consent["granted"], consent["source"]) == (False, "sms_stop")
    assert _suppressions(stack).reason(ann["profile_id"], "sms", "07700 900123", purpose="transactional") == "sms_opt_out"
    assert (first["profiles"], first["new"], first["numbers"]) == (1, 9, 9)
    assert (second["new"], second["profiles"]) == (0, 0)
    assert profile_of(stack, "C1")["consent"]["email:marketing"]["granted"] is True


# ---------------------------------------------------------------------------------------------- SES feedback
KEY = "campaign#winter_sale#send#run-1"


def _send(stack: LocalStack, profile_id: str, address: str, key: str = KEY) -> str:
    """What the sending service does: the send record, then SendEmail with the configuration set and the tags."""
    stack.client("dynamodb").put_item(
        TableName=stack.physical_id("ProfilesTable"),
        Item={**{k: {"S": v} for k, v in message_record_key(profile_id, key).items()}, "status": {"S": "sent"},
              "profile_id": {"S": profile_id}, "channel": {"S": "email"}, "purpose": {"S": "marketing"},
              "variant": {"S": "main"}, "template": {"S": "winter_sale"}},
    )  # fmt: skip
    [configuration_set] = [c for c in stack.client("sesv2").list_configuration_sets()["ConfigurationSets"]]
    return stack.client("sesv2").send_email(
        FromEmailAddress="hello@example.com",
        Destination={"ToAddresses": [address]},
        Content={"Simple": {"Subject": {"Data": "Winter sale"}, "Body": {"Text": {"Data": "20% off"}}}},
        ConfigurationSetName=configuration_set,
        EmailTags=[{"Name": "profile_id", "Value": profile_id}, {"Name": "message_key", "Value": message_tag_value(key)}],
    )["MessageId"]


def _record(stack: LocalStack, profile_id: str, key: str = KEY) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(TableName=stack.physical_id("ProfilesTable"), Key={
        k: {"S": v} for k, v in message_record_key(profile_id, key).items()})["Item"]  # fmt: skip
    return {name: next(iter(value.values())) for name, value in item.items()}


def _message_rows(stack: LocalStack) -> list[str]:
    bucket = stack.physical_id("CuratedBucket")
    return [o["Key"] for o in stack.client("s3").list_objects_v2(Bucket=bucket, Prefix="messages/").get("Contents", [])]


def test_a_hard_bounce_suppresses_the_address(stack: LocalStack) -> None:
    # Given: a campaign email to the simulator's bounce address
    _send(stack, "p-bounce", "bounce@simulator.amazonses.com")
    # When: SES publishes its events
    published = stack.emit_email_feedback()
    # Then: the record is marked bounced, the address suppressed, a messages row written
    assert published == 1
    assert _suppressions(stack).reason("p-bounce", "email", "Bounce@Simulator.AmazonSES.com") == "hard_bounce"
    record = _record(stack, "p-bounce")
    assert record["bounced_reason"] == "permanent:General" and "delivered_at" not in record
    assert len(_message_rows(stack)) == 1


def test_a_complaint_suppresses_the_address_after_its_delivery(stack: LocalStack) -> None:
    _send(stack, "p-complaint", "complaint@simulator.amazonses.com")
    assert stack.emit_email_feedback() == 2
    assert _suppressions(stack).reason("p-complaint", "email", "complaint@simulator.amazonses.com") == "complaint"
    record = _record(stack, "p-complaint")
    assert ("delivered_at" in record, record["complained_reason"]) == (True, "abuse")


def test_a_soft_bounce_suppresses_nobody(stack: LocalStack) -> None:
    # Given: a message delivered to a mailbox that is full for now
    message_id = _send(stack, "p-soft", "ann@example.com")
    email = next(e for e in stack.sent_emails.emails if e.message_id == message_id)
    email.events_emitted = True
    # When: SES publishes a Transient bounce
    stack.publish_email_event(email.configuration_set or "", bounce_event(email, stack.region, ["ann@example.com"], datetime.now(UTC), "Transient", "MailboxFull"))
    # Then
    assert _record(stack, "p-soft")["bounced_reason"] == "transient:MailboxFull"
    assert _suppressions(stack).reason("p-soft", "email", "ann@example.com") is None


def test_feedback_delivered_twice_is_applied_once(stack: LocalStack) -> None:
    # Given: a delivered message
    _send(stack, "p-twice", "bob@example.com")
    email = stack.sent_emails.emails[-1]
    stack.emit_email_feedback()
    delivered_at = _record(stack, "p-twice")["delivered_at"]
    # When: SNS delivers the same Delivery event again (at-least-once)
    email.events_emitted = False
    stack.emit_email_feedback()
    # Then: one mark, one row, nothing left in the queues
    assert _record(stack, "p-twice")["delivered_at"] == delivered_at
    assert len(_message_rows(stack)) == 1
    sqs = stack.client("sqs")
    for queue in ("MessageFeedbackQueue", "MessageFeedbackDeadLetterQueue"):
        attributes = sqs.get_queue_attributes(QueueUrl=stack.physical_id(queue), AttributeNames=["ApproximateNumberOfMessages"])
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_notification_that_is_no_ses_event_ends_in_the_dead_letter_queue(stack: LocalStack) -> None:
    # Given / When: something else is published to the feedback topic
    sent = SentEmail("m-1", "hello@example.com", ["x@example.com"], {}, None, datetime.now(UTC))
    [configuration_set] = stack.client("sesv2").list_configuration_sets()["ConfigurationSets"]
    stack.publish_email_event(configuration_set, {"hello": "world", "mail": sent.source})
    # Then: kept, not lost, and nothing else changed
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.physical_id("MessageFeedbackDeadLetterQueue"), AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "1"
    assert not [i for i in table_items(stack, "ProfilesTable") if i["pk"]["S"].startswith("SUPPRESSED#")]
