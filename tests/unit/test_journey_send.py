"""Sending one journey message exactly once, with the journey's ports as in-memory fakes (no moto needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cdp.journeys.send import SendRequest, check_step, send_step_message
from cdp.settings import MessagingSettings

from tests.fakes import FakeJourneyMessages, FakeSender

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SETTINGS = MessagingSettings.model_validate({
    "PROFILES_TABLE": "profiles", "LEDGER_TABLE": "ledger", "EVENT_BUS_NAME": "bus", "JOURNEY_TRIGGER_HORIZON_DAYS": "30",
    "ERASURE_SALT_PARAMETER": "/cdp/erasure-salt", "DEFAULT_PHONE_REGION": "GB", "SENDER_EMAIL": "shop@example.com",
    "UNSUBSCRIBE_BASE_URL": "https://example.com/unsubscribe",
})  # fmt: skip
ADA = {"profile_id": "p1", "email": "ada@example.com", "first_name": "Ada",
       "consent": {"email:marketing": {"granted": True, "recorded_at": "2026-11-01T00:00:00+00:00"}}}  # fmt: skip


def _request(execution: str = "x1") -> SendRequest:
    return SendRequest(journey="welcome", step="hello", channel="email", profile_id="p1", execution_id=execution,
                       template="welcome_email")  # fmt: skip


def _send(profile: dict[str, Any] | None, messages: FakeJourneyMessages, sender: FakeSender, execution: str = "x1"):
    return send_step_message(_request(execution), lambda _: profile, messages, sender, SETTINGS, NOW)


def test_an_eligible_profile_gets_one_email_and_a_replay_sends_nothing() -> None:
    # Given a consenting profile
    messages, sender = FakeJourneyMessages(), FakeSender()
    # When the step runs, then runs again (a redelivered task) and from another execution
    first = _send(ADA, messages, sender)
    again = _send(ADA, messages, sender)
    other = _send(ADA, messages, sender, execution="x2")
    # Then one email went to her, recorded as sent; the replays were skipped
    assert first["status"] == "sent" and [recipient for _, recipient, _ in sender.emails] == ["ada@example.com"]
    assert (again["status"], other["status"]) == ("skipped", "skipped")
    assert messages.get("p1", "welcome", "hello")["status"] == "sent"


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (None, "profile_not_found"),
        ({**ADA, "consent": {"email:marketing": {"granted": False}}}, "no_consent"),
        ({**ADA, "email": None}, "no_email"),
    ],
)
def test_a_profile_that_stopped_being_eligible_after_the_claim_is_suppressed(profile, reason) -> None:
    # Given a profile read after the claim that no longer qualifies
    messages, sender = FakeJourneyMessages(), FakeSender()
    # When the step runs
    result = _send(profile, messages, sender)
    # Then nothing is sent and the reason is recorded
    assert (result["status"], result["reason"], sender.emails) == ("suppressed", reason, [])
    assert messages.get("p1", "welcome", "hello")["reason"] == reason


def test_checking_a_step_records_why_not_but_never_over_a_sent_message() -> None:
    # Given a message already sent to Ada
    messages, sender = FakeJourneyMessages(), FakeSender()
    _send(ADA, messages, sender)
    # When the step is checked again, and for a profile without consent
    repeat = check_step(_request(), lambda _: ADA, messages, NOW)
    refused = check_step(_request().model_copy(update={"profile_id": "p2"}), lambda _: {**ADA, "consent": {}}, messages, NOW)
    # Then the sent record stays; the refusal is recorded for the other profile
    assert (repeat.reason, refused.reason) == ("already_sent", "no_consent")
    assert messages.get("p1", "welcome", "hello")["status"] == "sent"
    assert messages.get("p2", "welcome", "hello")["reason"] == "no_consent"
