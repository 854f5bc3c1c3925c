"""The journey router: one active run per profile, re-entry rules, holdout, requests computed at entry, goal stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdp.journeys.definition import shipped_definitions
from cdp.journeys.dry_run import InMemoryEntries
from cdp.journeys.router import BusEvent, RouterParts, execution_name, route_event
from cdp.messaging.assignment import assign
from cdp.messaging.requests import MessageRequest

from tests.fakes import FakeJourneyRuns, FakeMessageEvents

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEFINITIONS = shipped_definitions()
PROFILE = {"profile_id": "p1", "orders_count": 2, "loyalty": {"tier": "gold"}}


def _parts(profile: dict[str, Any] | None = PROFILE, overrides: dict[str, int] | None = None) -> RouterParts:
    return RouterParts(InMemoryEntries(), FakeJourneyRuns(), FakeMessageEvents(), lambda _: profile, overrides or {})


def _event(detail_type: str, profile_id: str = "p1", event_id: str = "e1", source: str = "cdp.tracking",
           **detail: Any) -> BusEvent:  # fmt: skip
    return BusEvent(event_id, source, detail_type, {"profile_id": profile_id, **detail})


def _messaged_profile(journey: str) -> str:
    """A profile id that the journey's experiment does not hold out."""
    definition = DEFINITIONS[journey]
    return next(
        f"p{n}" for n in range(100)
        if assign(f"p{n}", journey, definition.experiment.holdout_percent, definition.experiment.variants) != "holdout"
    )  # fmt: skip


def test_a_checkout_enters_the_cart_journey_with_every_request_computed() -> None:
    # Given a profile not held out of the cart journey
    parts, profile_id = _parts(), _messaged_profile("abandoned_cart")
    products = [{"product_id": "sku-1", "name": "Tea"}]
    # When a checkout starts
    routed = route_event(_event("Checkout Started", profile_id, properties={"products": products, "cart_id": "c9"}),
                         DEFINITIONS, parts, NOW)  # fmt: skip
    # Then one run started, with the entry recorded and each send step's request valid
    assert [(r.journey, r.outcome) for r in routed] == [("abandoned_cart", "started")]
    run = parts.runs.started[routed[0].execution_name]  # type: ignore[attr-defined,index]
    reminder = MessageRequest.model_validate(run["messages"]["cart_reminder"])
    assert reminder.occurrence == routed[0].execution_name and reminder.context["cart_items"] == products
    assert reminder.expires_at == NOW + timedelta(seconds=run["waits"]["wait_before_reminder"]) + timedelta(hours=12)
    assert reminder.guards[0].params == {"since": NOW.isoformat()}
    assert run["messages"]["cart_coupon"]["context"]["coupon_code"] == "CART10"
    assert parts.message_events.rows[0]["event"] == "assigned"  # type: ignore[attr-defined]


def test_the_same_event_again_starts_the_same_run_and_another_is_refused_while_active() -> None:
    # Given a profile in the cart journey
    parts, profile_id = _parts(), _messaged_profile("abandoned_cart")
    first = route_event(_event("Checkout Started", profile_id), DEFINITIONS, parts, NOW)
    # When the same event is delivered again, and then a product is added
    again = route_event(_event("Checkout Started", profile_id), DEFINITIONS, parts, NOW)
    other = route_event(_event("Product Added", profile_id, event_id="e2"), DEFINITIONS, parts, NOW)
    # Then the retry names the same run (started once), the other event is refused
    assert again[0].outcome == "started" and again[0].execution_name == first[0].execution_name
    assert len(parts.runs.started) == 1  # type: ignore[attr-defined]
    assert other[0].outcome == "refused:already_active"


@pytest.mark.parametrize(
    ("journey", "trigger", "days_later", "outcome"),
    [
        ("abandoned_cart", ("cdp.tracking", "Checkout Started", {}), 3, "refused:reentry"),
        ("abandoned_cart", ("cdp.tracking", "Checkout Started", {}), 8, "started"),
        ("welcome", ("cdp.profiles", "Customer Signed Up", {"backfill": False}), 400, "refused:reentry"),
        ("tier_upgrade", ("cdp.loyalty", "Tier Changed", {"tier": "gold", "direction": "up"}), 0, "started"),
    ],
)
def test_reentry_rules_after_a_run_ended(journey: str, trigger: tuple, days_later: int, outcome: str) -> None:
    # Given a run of the journey that ended
    parts, profile_id = _parts(), _messaged_profile(journey)
    source, detail_type, detail = trigger
    first = route_event(_event(detail_type, profile_id, "e1", source, **detail), DEFINITIONS, parts, NOW)
    parts.entries.end(profile_id, journey, first[0].execution_name, "completed", NOW)  # type: ignore[arg-type]
    # When the trigger comes again later
    later = NOW + timedelta(days=days_later)
    routed = route_event(_event(detail_type, profile_id, "e2", source, **detail), DEFINITIONS, parts, later)
    # Then the re-entry rule decides
    assert [r.outcome for r in routed if r.journey == journey] == [outcome]


def test_a_holdout_entry_is_recorded_and_starts_no_run() -> None:
    # Given a profile the win-back journey holds out
    definition = DEFINITIONS["win_back"]
    held = next(f"p{n}" for n in range(1000) if assign(f"p{n}", "win_back", definition.experiment.holdout_percent) == "holdout")
    parts, dormant = _parts(), {"segment": "lifecycle_dormant"}
    # When they turn dormant
    routed = route_event(_event("Segment Entered", held, source="cdp.segments", **dormant), DEFINITIONS, parts, NOW)
    # Then the holdout is recorded, no run starts, and entering again is refused by the re-entry rule, alike
    assert routed[0].outcome == "holdout" and parts.runs.started == {}  # type: ignore[attr-defined]
    assert parts.message_events.rows[0]["event"] == "holdout"  # type: ignore[attr-defined]
    again = route_event(_event("Segment Entered", held, "e2", "cdp.segments", **dormant), DEFINITIONS, parts, NOW)
    assert again[0].outcome == "refused:reentry"


def test_an_order_stops_the_cart_run_and_starts_post_purchase() -> None:
    # Given an active cart run
    parts, profile_id = _parts(), _messaged_profile("abandoned_cart")
    cart = route_event(_event("Checkout Started", profile_id), DEFINITIONS, parts, NOW)
    # When the order arrives
    routed = route_event(
        _event("Order Completed", profile_id, "e2", properties={"order_id": "o1"}), DEFINITIONS, parts, NOW
    )
    # Then the cart run is stopped on its goal and marked so; the post-purchase journey starts
    outcomes = {r.journey: r.outcome for r in routed}
    assert outcomes["abandoned_cart"] == "stopped:goal" and outcomes["post_purchase"] == "started"
    assert parts.runs.stopped == [cart[0].execution_name]  # type: ignore[attr-defined]
    assert parts.entries.get(profile_id, "abandoned_cart")["outcome"] == "goal"  # type: ignore[index]


def test_backfilled_signups_unknown_profiles_and_events_without_a_profile_start_nothing() -> None:
    parts = _parts()
    assert (
        route_event(_event("Customer Signed Up", source="cdp.profiles", backfill=True), DEFINITIONS, parts, NOW) == []
    )
    assert route_event(BusEvent("e", "cdp.tracking", "Checkout Started", {}), DEFINITIONS, parts, NOW) == []
    unknown = route_event(_event("Checkout Started"), DEFINITIONS, _parts(profile=None), NOW)
    assert unknown[0].outcome == "refused:profile_not_found"


def test_waits_follow_the_variant_and_the_deployment_overrides() -> None:
    # Given a deployment shortening the coupon wait
    parts = _parts(overrides={"abandoned_cart.wait_before_coupon": 5})
    profile_id = _messaged_profile("abandoned_cart")
    # When the profile enters
    routed = route_event(_event("Checkout Started", profile_id), DEFINITIONS, parts, NOW)
    # Then the reminder waits its variant's time, the coupon the override
    run = parts.runs.started[routed[0].execution_name]  # type: ignore[attr-defined,index]
    assert run["waits"] == {
        "wait_before_reminder": {"main": 3600, "short_wait": 1800}[run["variant"]],
        "wait_before_coupon": 5,
    }


def test_execution_names_are_short_stable_and_carry_no_profile_id() -> None:
    definition = DEFINITIONS["abandoned_cart"]
    name = execution_name(definition, "customer-with-a-long-id@example.com", "e1", NOW)
    assert name == execution_name(definition, "customer-with-a-long-id@example.com", "e2", NOW + timedelta(hours=1))
    assert len(name) <= 80 and "example" not in name
