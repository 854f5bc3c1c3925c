"""The sending service's rules in order, exactly once, and its records: one decision per scenario, with fakes."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any

import pytest
from cdp.messaging.ports import ProviderError
from cdp.messaging.requests import MessageRequest
from cdp.messaging.rules import FrequencyCap, QuietHours
from cdp.messaging.service import SendingParts, SendInterrupted, send_message
from cdp.messaging.sweep import send_due_messages
from cdp.messaging.templates import shipped_templates
from fakes import (
    FakeChannel,
    FakeDeferredMessages,
    FakeMessageEvents,
    FakeSendRecords,
    FakeSuppressionList,
    FakeUnsubscribeLinks,
    WindowsReadTogether,
    run_together,
)

NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # 12:00 in London, 20:00 in Shanghai
ANN = {
    "profile_id": "ann", "email": "ann@example.com", "phone": "+447700900123", "first_name": "Ann",
    "timezone": "Europe/London", "last_order_at": "2026-11-01T10:00:00+00:00", "cart_status": "open",
    "rfm": {"segment": "champions"},
    "consent": {"email:marketing": {"granted": True}, "sms:marketing": {"granted": True}},
}  # fmt: skip


def request(**change: Any) -> MessageRequest:
    fields = {"profile_id": "ann", "origin": "journey", "origin_name": "welcome", "step": "welcome_email",
              "occurrence": "run-1", "channel": "email", "template": "welcome_email",
              "context": {"coupon_code": "WELCOME10"}}  # fmt: skip
    return MessageRequest.model_validate({**fields, **change})


class Setup:
    def __init__(self, profiles: dict[str, dict[str, Any]] | None = None, cap: int = 3) -> None:
        self.profiles = {"ann": ANN} if profiles is None else profiles
        self.records = FakeSendRecords()
        self.suppressions = FakeSuppressionList()
        self.email, self.sms = FakeChannel(), FakeChannel()
        self.events = FakeMessageEvents()
        self.parts = SendingParts(
            profiles=self.profiles.get,
            records=self.records,
            suppressions=self.suppressions,
            channels={"email": self.email, "sms": self.sms},
            unsubscribe_links=FakeUnsubscribeLinks(),
            events=self.events,
            templates=shipped_templates(),
            caps={"email": FrequencyCap(cap, timedelta(days=7))},
            quiet_hours=QuietHours(time(21), time(9)),
            shop_timezone="Europe/London",
        )


@pytest.mark.parametrize(
    ("profile", "change", "status", "reason"),
    [
        (ANN, {}, "sent", "sent"),
        (None, {}, "skipped", "profile_not_found"),
        (ANN, {"expires_at": "2026-12-03T11:00:00+00:00"}, "skipped", "expired"),
        (ANN, {"guards": [{"name": "no_order_since", "params": {"since": "2026-10-01T00:00:00+00:00"}}]}, "skipped",
         "guard:no_order_since"),
        (ANN, {"guards": [{"name": "no_order_since", "params": {"since": "2026-11-02T00:00:00+00:00"}}]}, "sent", "sent"),
        ({**ANN, "cart_status": "empty"}, {"guards": [{"name": "cart_still_open"}]}, "skipped", "guard:cart_still_open"),
        (ANN, {"guards": [{"name": "still_in_segment", "params": {"segment": "rfm:champions"}}]}, "sent", "sent"),
        (ANN, {"guards": [{"name": "still_in_segment", "params": {"segment": "rfm:at_risk"}}]}, "skipped",
         "guard:still_in_segment"),
        (ANN, {"guards": [{"name": "consent_still_given", "params": {"channel": "push"}}]}, "skipped",
         "guard:consent_still_given"),
        ({**ANN, "consent": {}}, {}, "skipped", "no_consent"),
        ({**ANN, "consent": {"email:marketing": {"granted": False}}}, {}, "skipped", "no_consent"),
        ({**ANN, "consent": {}}, {"template": "thank_you", "purpose": "transactional", "context": {"order_id": "O1"}},
         "sent", "sent"),
        ({**ANN, "consent": {"email:transactional": {"granted": False}}},
         {"template": "thank_you", "purpose": "transactional", "context": {"order_id": "O1"}}, "skipped", "no_consent"),
        ({**ANN, "email": None}, {}, "skipped", "no_address"),
        ({**ANN, "timezone": "Asia/Shanghai"}, {}, "deferred", "quiet_hours"),
        ({**ANN, "timezone": "Asia/Shanghai"}, {"expires_at": "2026-12-03T20:00:00+00:00"}, "skipped", "expired"),
        ({**ANN, "timezone": "Asia/Shanghai"}, {"template": "thank_you", "purpose": "transactional",
                                                 "context": {"order_id": "O1"}}, "sent", "sent"),
        (ANN, {"template": "no_such_template"}, "failed", "template:unknown:no_such_template"),
        (ANN, {"template": "first_order_nudge_sms"}, "failed", "template:channel:sms"),
        (ANN, {"context": {}}, "failed", "template:missing_context:coupon_code"),
    ],
)
def test_each_rule_in_order(profile, change, status, reason) -> None:
    # Given
    setup = Setup({"ann": profile} if profile else {})
    # When: at 13:00 UTC (21:00 in Shanghai)
    outcome = send_message(request(**change), setup.parts, NOON + timedelta(hours=1))
    # Then: the outcome, the send record and the messages row agree
    assert (outcome.status, outcome.reason) == (status, reason)
    records = [(record["status"], record["reason"]) for record in setup.records.records.values()]
    assert records == ([] if reason == "profile_not_found" else [(status, reason)])
    [row] = setup.events.rows
    assert (row["event"], row["reason"], row["message_key"]) == (status, reason, "journey#welcome#welcome_email#run-1")
    assert len(setup.email.sent) == (status == "sent")


def test_a_suppressed_address_is_skipped_with_its_reason() -> None:
    # Given
    setup = Setup()
    setup.suppressions.add("ann", "email", "ann@example.com", "hard_bounce", NOON)
    # When / Then
    assert send_message(request(), setup.parts, NOON).reason == "suppressed:hard_bounce"


def test_quiet_hours_defer_to_nine_in_the_persons_zone() -> None:
    # Given: 20:00 in Shanghai is fine, 21:00 is not
    setup = Setup({"ann": {**ANN, "timezone": "Asia/Shanghai"}})
    # When
    outcome = send_message(request(), setup.parts, NOON + timedelta(hours=1))
    # Then: deferred to 09:00 Shanghai (01:00 UTC), with the seconds a Step Functions Wait needs
    assert outcome.defer_until == datetime(2026, 12, 4, 1, tzinfo=UTC)
    assert outcome.wait_seconds == 12 * 3600
    # When the journey asks again then
    again = send_message(request(), setup.parts, outcome.defer_until)
    # Then it goes
    assert again.status == "sent"


def test_the_cap_defers_past_the_window_and_a_deadline_expires_the_message() -> None:
    # Given: a cap of 2 a week, and two campaign emails sent a day apart
    setup = Setup(cap=2)
    for day, name in enumerate(("one", "two")):
        sent = send_message(request(origin="campaign", origin_name=name, step="send"), setup.parts,
                            NOON + timedelta(days=day))  # fmt: skip
        assert sent.status == "sent"
    # When: a third comes the day after, and a fourth has a deadline before the cap frees
    third = send_message(request(step="third"), setup.parts, NOON + timedelta(days=2))
    fourth = send_message(request(step="fourth", expires_at="2026-12-08T00:00:00+00:00"), setup.parts,
                          NOON + timedelta(days=2))  # fmt: skip
    # Then: the third waits until the first leaves the window; the fourth expires
    assert (third.status, third.reason) == ("deferred", "frequency_cap")
    assert third.defer_until == NOON + timedelta(days=7, seconds=50)
    assert (fourth.status, fourth.reason) == ("skipped", "expired")
    # Then: transactional messages are never capped
    receipt = request(step="receipt", template="thank_you", purpose="transactional", context={"order_id": "O1"})
    assert send_message(receipt, setup.parts, NOON + timedelta(days=2)).status == "sent"


def test_a_retry_never_sends_twice_and_answers_already_sent() -> None:
    # Given
    setup = Setup()
    first = send_message(request(), setup.parts, NOON)
    # When
    again = send_message(request(), setup.parts, NOON + timedelta(minutes=1))
    # Then
    assert (again.status, again.reason, again.message_id) == ("skipped", "already_sent", first.message_id)
    assert len(setup.email.sent) == 1
    assert [row["event"] for row in setup.events.rows] == ["sent"]


def test_concurrent_senders_send_once() -> None:
    # Given: eight threads with the same request
    setup = Setup()
    start = threading.Barrier(8)
    outcomes = []

    def sender() -> None:
        start.wait()
        outcomes.append(send_message(request(), setup.parts, NOON))

    threads = [threading.Thread(target=sender) for _ in range(8)]
    # When
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then
    assert len(setup.email.sent) == 1
    assert sorted(outcome.reason for outcome in outcomes) == ["already_sent"] * 7 + ["sent"]


def test_concurrent_sends_of_different_messages_never_exceed_the_cap() -> None:
    # Given: a cap of 3 a week, and six campaign emails to Ann whose senders all read her empty window together
    setup = Setup(cap=3)
    parts = replace(setup.parts, records=WindowsReadTogether(setup.records, senders=6))
    requests = [request(origin="campaign", origin_name=f"campaign_{n}", step="send") for n in range(6)]
    # When: they are sent at once
    outcomes = run_together(partial(send_message, each, parts, NOON) for each in requests)
    # Then: three go; the others find the window changed, decide again and are deferred to a slot
    assert sorted((outcome.status, outcome.reason) for outcome in outcomes) == [
        ("deferred", "frequency_cap")] * 3 + [("sent", "sent")] * 3  # fmt: skip
    assert len(setup.email.sent) == 3
    assert len(setup.records.cap_window("ann", "email").sends) == 3


def test_a_send_refused_by_the_provider_gives_its_cap_slot_back() -> None:
    # Given: a cap of 1, and a provider that refuses the first email
    setup = Setup(cap=1)
    setup.email.refuse = ProviderError("MessageRejected")
    refused = send_message(request(step="first"), setup.parts, NOON)
    setup.email.refuse = None
    # When: the next marketing email comes
    second = send_message(request(step="second"), setup.parts, NOON)
    third = send_message(request(step="third"), setup.parts, NOON)
    # Then: the refused one did not count; the second took the only slot
    assert (refused.reason, second.status, third.reason) == ("provider_error:MessageRejected", "sent", "frequency_cap")


def test_a_crash_between_claim_and_outcome_is_never_resent() -> None:
    # Given: a sender claimed the message, then died before recording what the provider said
    setup = Setup()
    assert setup.records.claim(request(), "dead-sender", NOON) is None
    # When: a retry comes within the lease, then after it
    soon = send_message(request(), setup.parts, NOON + timedelta(minutes=1))
    later = send_message(request(), setup.parts, NOON + timedelta(hours=1))
    # Then: nothing is sent; the stale claim becomes `unknown`, and stays so
    assert (soon.reason, later.status, later.reason) == ("already_sent", "failed", "unknown")
    assert setup.email.sent == []
    assert send_message(request(), setup.parts, NOON + timedelta(hours=2)).reason == "already_sent"
    assert next(iter(setup.records.records.values()))["status"] == "unknown"


def test_a_provider_refusal_is_recorded_and_a_passing_one_retried() -> None:
    # Given
    setup = Setup()
    setup.email.refuse = ProviderError("MessageRejected")
    # When / Then: refused for good
    assert send_message(request(), setup.parts, NOON).reason == "provider_error:MessageRejected"
    # When / Then: throttled: the caller retries, the record can be claimed again and the retry sends
    setup.email.refuse = ProviderError("TooManyRequestsException", retryable=True)
    with pytest.raises(SendInterrupted):
        send_message(request(step="second"), setup.parts, NOON)
    setup.email.refuse = None
    assert send_message(request(step="second"), setup.parts, NOON).status == "sent"


def test_an_ambiguous_provider_failure_is_marked_unknown_and_never_resent() -> None:
    # Given: the connection drops after the request went out
    setup = Setup()
    setup.email.refuse = TimeoutError("read timed out")
    # When
    with pytest.raises(TimeoutError):
        send_message(request(), setup.parts, NOON)
    setup.email.refuse = None
    # Then
    assert send_message(request(), setup.parts, NOON).reason == "already_sent"
    assert setup.email.sent == []


def test_a_merged_profile_is_messaged_as_the_profile_it_was_merged_into() -> None:
    # Given: the request names an id merged into ann (the reader follows redirects)
    setup = Setup({"old-id": ANN})
    # When
    outcome = send_message(request(profile_id="old-id"), setup.parts, NOON)
    # Then: recorded on the live profile
    assert outcome.status == "sent"
    assert list(setup.records.records) == [("ann", "journey#welcome#welcome_email#run-1")]


def test_the_sweeper_sends_due_deferred_messages_and_keeps_the_rest() -> None:
    # Given: one due now, one due tomorrow, one that will defer again (quiet hours in Shanghai)
    setup = Setup({"ann": ANN, "li": {**ANN, "profile_id": "li", "timezone": "Asia/Shanghai"}})
    deferred = FakeDeferredMessages()
    deferred.defer(request(origin="campaign", step="send"), NOON - timedelta(minutes=1))
    deferred.defer(request(origin="campaign", step="send", occurrence="run-2"), NOON + timedelta(days=1))
    deferred.defer(request(origin="campaign", step="send", profile_id="li"), NOON)
    # When
    outcomes = send_due_messages(setup.parts, deferred, NOON + timedelta(hours=1), limit=10)
    # Then
    assert dict(outcomes) == {"sent": 1, "deferred": 1}
    assert sorted(until for until, _key in deferred.waiting) == [datetime(2026, 12, 4, 1, tzinfo=UTC),
                                                                   NOON + timedelta(days=1)]  # fmt: skip
