"""Journey eligibility decisions, as a table of scenarios."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cdp.journeys.eligibility import EligibilityRequest, decide, seconds_until_send_window

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CONSENTING = {"email": "a@b.co", "phone": "+447700900123", "signed_up_at": "2026-11-18T10:00:00+00:00",
              "orders_count": 0, "consent": {"email:marketing": {"granted": True}, "sms:marketing": {"granted": True}}}


def _request(channel: str = "email", purpose: str = "marketing", **rules: object) -> EligibilityRequest:
    return EligibilityRequest(journey="welcome", step="s", channel=channel, purpose=purpose, profile_id="p",
                              execution_id="x", rules=rules)


@pytest.mark.parametrize(
    ("profile", "previous", "request_", "reason"),
    [
        (CONSENTING, None, _request(max_signup_age_days=30), "eligible"),
        (None, None, _request(), "profile_not_found"),
        (CONSENTING, {"status": "sent"}, _request(), "already_sent"),
        (CONSENTING, {"status": "suppressed"}, _request(), "eligible"),
        ({**CONSENTING, "email": None}, None, _request(), "no_email"),
        ({**CONSENTING, "consent": {"email:marketing": {"granted": False}}}, None, _request(), "no_consent"),
        ({**CONSENTING, "consent": {"email": {"granted": True}}}, None, _request(), "no_consent"),
        ({**CONSENTING, "consent": {}}, None, _request(purpose="transactional"), "eligible"),
        ({**CONSENTING, "consent": {"email:transactional": {"granted": False}}}, None, _request(purpose="transactional"),
         "no_consent"),
        ({**CONSENTING, "consent": {}}, None, _request(), "no_consent"),
        ({**CONSENTING, "signed_up_at": "2025-01-01T00:00:00+00:00"}, None, _request(max_signup_age_days=30),
         "not_a_new_customer"),
        ({**CONSENTING, "orders_count": 2}, None, _request("sms", require_no_orders=True), "already_ordered"),
    ],
)
def test_decisions(profile, previous, request_, reason) -> None:
    # Given / When
    decision = decide(request_, profile, previous, NOON)
    # Then
    assert decision.reason == reason
    assert decision.eligible == (reason == "eligible")


@pytest.mark.parametrize(
    ("hour", "zone", "wait"),
    [(12, "UTC", 0), (22, "UTC", 11 * 3600), (3, "UTC", 6 * 3600), (12, "Asia/Shanghai", 0), (14, "Asia/Shanghai", 11 * 3600),
     (12, "Not/AZone", 0)],
)
def test_quiet_hours_push_sends_to_nine_local(hour: int, zone: str, wait: int) -> None:
    # Given / When / Then
    assert seconds_until_send_window(NOON.replace(hour=hour), zone) == wait
