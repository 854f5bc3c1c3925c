"""SES feedback applied to send records, the suppression list and `messages` rows, from records shaped as AWS
documents them (events/ses_event_bounce.json is the documented Bounce example with the sender's two tags)."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import pytest
from cdp.messaging.feedback import (
    FeedbackParts,
    SesEvent,
    apply_email_feedback,
    message_key_of_tag,
    message_tag_value,
)
from cdp.messaging.suppression import Suppressions
from cdp_local.template import REPO_ROOT
from fakes import FakeMessageEvents, FakeSendRecords
from pydantic import ValidationError

KEY = "campaign#winter_sale#send#run-1"
BOUNCE = json.loads((REPO_ROOT / "events" / "ses_event_bounce.json").read_text())


class FakeStore:
    """SuppressionStore in memory."""

    def __init__(self) -> None:
        self.reasons: dict[tuple[str, str], set[str]] = {}

    def lookup(self, channel: str, address_digest: str, erased_digest: str) -> tuple[set[str], bool]:
        return set(self.reasons.get((channel, address_digest), set())), False

    def add_reason(self, channel: str, address_digest: str, reason: str, at: datetime) -> bool:
        reasons = self.reasons.setdefault((channel, address_digest), set())
        new = reason not in reasons
        reasons.add(reason)
        return new

    def remove_reason(self, channel: str, address_digest: str, reason: str) -> None:
        self.reasons.get((channel, address_digest), set()).discard(reason)


@pytest.fixture
def parts() -> FeedbackParts:
    record = {"profile_id": "p-1", "status": "sent", "variant": "b", "channel": "email", "purpose": "marketing",
              "template": "winter_sale_email"}
    records = FakeSendRecords(records={("p-1", KEY): record})
    return FeedbackParts(records, Suppressions(FakeStore(), "salt", "GB"), FakeMessageEvents())


def _event(event_type: str, **detail: Any) -> SesEvent:
    record = copy.deepcopy(BOUNCE)
    del record["bounce"]
    return SesEvent.model_validate({**record, "eventType": event_type, **detail})


def _suppressed(parts: FeedbackParts, address: str = "recipient@example.com") -> str | None:
    return parts.suppressions.reason("p-1", "email", address)


def test_the_message_key_tag_round_trips_in_the_characters_ses_allows() -> None:
    value = message_tag_value("journey#abandoned_cart#reminder_1#arn:aws:states:eu-west-1:1:execution:x:y")
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    assert message_key_of_tag(value) == "journey#abandoned_cart#reminder_1#arn:aws:states:eu-west-1:1:execution:x:y"
    assert message_key_of_tag(message_tag_value(KEY)) == KEY
    for hostile in ("", "!!!", "YQ", "%%", "a" * 300):
        assert message_key_of_tag(hostile) is None


def test_a_permanent_bounce_suppresses_marks_the_record_and_writes_one_row(parts: FeedbackParts) -> None:
    # When: the documented Bounce record arrives
    outcome = apply_email_feedback(SesEvent.model_validate(BOUNCE), parts)
    # Then
    assert (outcome.event, outcome.applied, outcome.suppressed) == ("bounced", True, 1)
    assert _suppressed(parts) == "hard_bounce"
    record = parts.records.get("p-1", KEY)
    assert record["bounced_at"].startswith("2017-08-05T00:41:02.669")
    assert record["bounced_reason"] == "permanent:General"
    [row] = parts.events.rows
    assert {k: row[k] for k in ("message_key", "profile_id", "origin", "origin_name", "step", "occurrence", "variant",
                                "channel", "purpose", "template", "event", "reason", "provider_message_id")} == {
        "message_key": KEY, "profile_id": "p-1", "origin": "campaign", "origin_name": "winter_sale", "step": "send",
        "occurrence": "run-1", "variant": "b", "channel": "email", "purpose": "marketing",
        "template": "winter_sale_email", "event": "bounced", "reason": "permanent:General",
        "provider_message_id": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    }  # fmt: skip


def test_the_same_event_delivered_again_changes_nothing(parts: FeedbackParts) -> None:
    apply_email_feedback(SesEvent.model_validate(BOUNCE), parts)
    again = apply_email_feedback(SesEvent.model_validate(BOUNCE), parts)
    assert (again.applied, again.suppressed, len(parts.events.rows)) == (False, 0, 1)


@pytest.mark.parametrize(("bounce_type", "sub_type"), [("Transient", "MailboxFull"), ("Undetermined", "Undetermined")])
def test_a_soft_bounce_is_recorded_but_suppresses_nobody(parts: FeedbackParts, bounce_type: str, sub_type: str) -> None:
    soft = copy.deepcopy(BOUNCE)
    soft["bounce"].update(bounceType=bounce_type, bounceSubType=sub_type)
    outcome = apply_email_feedback(SesEvent.model_validate(soft), parts)
    assert (outcome.event, outcome.applied, outcome.suppressed) == ("bounced", True, 0)
    assert _suppressed(parts) is None
    assert parts.events.rows[0]["reason"] == f"{bounce_type.lower()}:{sub_type}"


@pytest.mark.parametrize(
    ("event_type", "detail", "event", "suppressed_as"),
    [
        ("Complaint", {"complaint": {"complainedRecipients": [{"emailAddress": "recipient@example.com"}],
                                     "timestamp": "2017-08-05T00:41:02.669Z", "feedbackId": "f",
                                     "complaintFeedbackType": "abuse", "arrivalDate": "2017-08-05T00:41:02.669Z"}},
         "complained", "complaint"),
        ("Delivery", {"delivery": {"timestamp": "2016-10-19T23:21:04.133Z", "processingTimeMillis": 11893,
                                   "recipients": ["recipient@example.com"], "smtpResponse": "250 2.6.0 Message received",
                                   "reportingMTA": "mta.example.com"}}, "delivered", None),
        ("Open", {"open": {"ipAddress": "192.0.2.1", "timestamp": "2017-08-09T22:00:19.652Z", "userAgent": "Mozilla"}},
         "opened", None),
        ("Click", {"click": {"ipAddress": "192.0.2.1", "link": "https://shop.example/p/1", "linkTags": {"k": ["v"]},
                             "timestamp": "2017-08-09T23:51:25.570Z", "userAgent": "Mozilla"}}, "clicked", None),
        ("Reject", {"reject": {"reason": "Bad content"}}, "rejected", None),
    ],
)  # fmt: skip
def test_each_documented_event_type(
    parts: FeedbackParts, event_type: str, detail: dict[str, Any], event: str, suppressed_as: str | None
) -> None:
    outcome = apply_email_feedback(_event(event_type, **detail), parts)
    assert (outcome.event, outcome.applied) == (event, True)
    assert _suppressed(parts) == suppressed_as
    assert parts.events.rows[0]["event"] == event


@pytest.mark.parametrize("event_type", ["Send", "DeliveryDelay", "Rendering Failure", "Subscription"])
def test_events_that_change_nothing_here(parts: FeedbackParts, event_type: str) -> None:
    outcome = apply_email_feedback(_event(event_type), parts)
    assert (outcome.event, outcome.applied, parts.events.rows) == (None, False, [])


def test_a_bounce_of_a_message_without_our_tags_still_suppresses(parts: FeedbackParts) -> None:
    untagged = copy.deepcopy(BOUNCE)
    del untagged["mail"]["tags"]["message_key"]
    outcome = apply_email_feedback(SesEvent.model_validate(untagged), parts)
    assert (outcome.untracked, outcome.suppressed, parts.events.rows) == (True, 1, [])
    assert _suppressed(parts) == "hard_bounce"


@pytest.mark.parametrize(
    "broken",
    [{}, {"eventType": "Bounce"}, {**BOUNCE, "mail": {}}, {**BOUNCE, "bounce": {"bounceType": "Sideways"}},
     {**BOUNCE, "mail": {**BOUNCE["mail"], "timestamp": "yesterday"}}],
)
def test_records_not_shaped_as_ses_publishes_them_are_refused(broken: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SesEvent.model_validate(broken)
