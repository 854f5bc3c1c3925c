"""The journey language refuses definitions that cannot run, each problem named with its place."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cdp.journeys.definition import InvalidDefinition, parse_definition, shipped_definitions

VALID: dict[str, Any] = {
    "name": "cart",
    "description": "A test journey.",
    "trigger": [{"source": "cdp.tracking", "event": "Checkout Started"}],
    "reentry": {"rule": "once_per_days", "days": 7},
    "steps": [
        {"type": "wait", "name": "pause", "duration": "1h"},
        {"type": "send", "name": "remind", "channel": "email", "template": "cart_reminder_email"},
    ],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("trigger.0.source", "cdp.unknown", "is not a bus event journeys know"),
        ("trigger.0", {"source": "cdp.loyalty", "event": "Tier Lost"}, "cdp.loyalty/Tier Lost is not a bus event"),
        ("reentry", {"rule": "once_per_days"}, "days is required by once_per_days"),
        ("reentry", {"rule": "every_time", "days": 3}, "days is required by once_per_days and taken by no other"),
        ("steps.0.duration", "1w", "is not a duration"),
        ("steps.0.duration", "400d", "at most 365d"),
        ("steps.1.channel", "fax", "steps[1].send.channel"),
        ("steps.1.guards", [{"name": "no_order_since"}], "guard no_order_since needs since"),
        ("steps.1.guards", [{"name": "cart_still_open", "params": {"x": 1}}], "takes no x"),
        ("steps.1.template", {"main": "a", "b": "c"}, "one value for each variant"),
        ("steps.0.next", "nowhere", "leads to 'nowhere', which is not a step"),
        ("steps.1.next", "pause", "can be reached again from itself"),
        ("steps.1.name", "pause", "step name 'pause' is used twice"),
        ("experiment", {"holdout_percent": 120}, "holdout_percent must be between 0 and 100"),
        ("experiment", {"variants": {"holdout": 100}}, "reserved for the control group"),
        ("name", "Bad-Name", "name"),
    ],
)
def test_a_definition_that_cannot_run_is_refused_with_its_place(path: str, value: Any, problem: str) -> None:
    # Given a valid definition with one thing broken
    document = _with(path, value)
    # When it is parsed
    with pytest.raises(InvalidDefinition) as refused:
        parse_definition(document, "cart.json")
    # Then the message names the problem
    assert problem in str(refused.value)


def test_a_branch_must_read_a_send_step_or_a_context_key_and_every_step_be_reachable() -> None:
    # Given a branch reading a wait step and a context key the journey does not carry, and an orphan step
    document = _with("steps", [
        {"type": "branch", "name": "pick", "when": [
            {"field": "steps.pause.status", "equals": "sent", "next": "remind"},
            {"field": "context.cart", "present": True, "next": "remind"}], "otherwise": "remind"},
        {"type": "exit", "name": "stop"},
        {"type": "send", "name": "remind", "channel": "email", "template": "t"},
    ])  # fmt: skip
    # When it is parsed
    with pytest.raises(InvalidDefinition) as refused:
        parse_definition(document)
    # Then each problem is listed
    message = str(refused.value)
    assert "reads steps.pause.status, but that is not a send step" in message
    assert "the journey's context has no 'cart'" in message
    assert "step 'stop' is never reached" in message


COUPON = {"type": "coupon", "name": "issue", "offer": "welcome10"}
REMIND = {"type": "send", "name": "remind", "channel": "email", "template": "t", "coupon": "issue"}


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([{**COUPON, "offer": "no_such_offer"}, REMIND], "names offer 'no_such_offer', which offers.json does not hold"),
        ([{"type": "wait", "name": "issue", "duration": "1h"}, REMIND], "'issue', which is not a coupon step"),
        ([COUPON, {**REMIND, "context": {"coupon_code": "FIXED10"}}], "its context cannot fix one too"),
        ([REMIND, COUPON], "can be reached without coupon step 'issue' issuing its code"),
        ([{**COUPON, "if_refused": "remind"}, REMIND], "can be reached without coupon step 'issue' issuing its code"),
        ([{**COUPON, "if_refused": "elsewhere"}, REMIND], "leads to 'elsewhere', which is not a step"),
    ],
    ids=["unknown offer", "not a coupon step", "fixed code too", "send before issue", "refused path", "bad target"],
)
def test_a_send_gets_a_coupon_only_after_a_coupon_step_of_a_real_offer_issued_it(
    steps: list[dict[str, Any]], problem: str
) -> None:
    # When a definition with a coupon step in the wrong place or of an unknown offer is parsed
    with pytest.raises(InvalidDefinition) as refused:
        parse_definition(_with("steps", steps))
    # Then the problem is named
    assert problem in str(refused.value)


def test_a_coupon_step_leads_on_when_issued_and_to_if_refused_otherwise() -> None:
    # Given a coupon, then a send with its code; refused: a send without one
    document = _with("steps", [{**COUPON, "if_refused": "plain"}, REMIND, {"type": "exit", "name": "done"},
                               {"type": "send", "name": "plain", "channel": "email", "template": "t"}])  # fmt: skip
    # When it is parsed
    definition = parse_definition(document)
    # Then the issued path comes first, the refused one second
    assert definition.successors(definition.step("issue")) == ["remind", "plain"]


def test_every_shipped_journey_is_valid_and_named_as_its_file() -> None:
    # When the shipped definitions load
    definitions = shipped_definitions()
    # Then all nine of the catalogue are there
    assert sorted(definitions) == sorted([
        "welcome", "abandoned_cart", "browse_abandonment", "post_purchase", "win_back", "birthday", "points_expiry",
        "tier_upgrade", "replenishment",
    ])  # fmt: skip
