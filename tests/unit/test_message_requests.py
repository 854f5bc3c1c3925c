"""The sending service's request: its exactly-once key and how hostile or malformed requests are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cdp.messaging.requests import Guard, MessageRequest, SendOutcome
from pydantic import ValidationError

VALID = {"profile_id": "p1", "origin": "journey", "origin_name": "welcome", "step": "welcome_email",
         "occurrence": "exec-1", "channel": "email", "template": "welcome_email"}


def test_key_names_origin_step_and_occurrence() -> None:
    # Given / When
    request = MessageRequest.model_validate(VALID)
    # Then
    assert request.key() == "journey#welcome#welcome_email#exec-1"
    assert (request.variant, request.purpose, request.priority) == ("main", "marketing", 50)


@pytest.mark.parametrize(
    "change",
    [{"origin": "push"}, {"origin_name": "Welcome!"}, {"occurrence": "a#b"}, {"channel": "fax"}, {"priority": 101},
     {"profile_id": ""}, {"expires_at": "2026-12-01T10:00:00"}, {"surprise": 1}, {"template": "../etc"},
     {"context": {"blob": "x" * 20_000}}, {"guards": [{"name": "is_nice"}]},
     {"guards": [{"name": "still_in_segment"}]}, {"guards": [{"name": "no_order_since", "params": {"since": "soon"}}]},
     {"guards": [{"name": "cart_still_open", "params": {"cart": 1}}]}],
)
def test_malformed_requests_are_refused(change: dict) -> None:
    # Given / When / Then
    with pytest.raises(ValidationError):
        MessageRequest.model_validate({**VALID, **change})


def test_guards_and_expiry_parse() -> None:
    # Given / When
    request = MessageRequest.model_validate({
        **VALID, "expires_at": "2026-12-01T10:00:00+08:00",
        "guards": [{"name": "no_order_since", "params": {"since": "2026-11-30T00:00:00+00:00"}},
                   {"name": "still_in_segment", "params": {"segment": "cart_abandoners"}}]})
    # Then
    assert request.expires_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert [guard.name for guard in request.guards] == ["no_order_since", "still_in_segment"]
    assert Guard(name="consent_still_given").params == {}


def test_outcome_serialises_for_a_step_functions_wait() -> None:
    # Given
    outcome = SendOutcome(status="deferred", reason="quiet_hours", defer_until=datetime(2026, 12, 1, tzinfo=UTC),
                          wait_seconds=3600)
    # When / Then
    assert outcome.model_dump(mode="json")["wait_seconds"] == 3600
