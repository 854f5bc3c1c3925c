"""The dry run replays history through a journey's definition: entries, goal exits, sends, skips and deferrals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cdp.journeys.definition import shipped_definitions
from cdp.journeys.dry_run import HistoryEvent, SendRules, dry_run
from cdp.journeys.router import BusEvent
from cdp.messaging.assignment import assign

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday morning, 10:00 UTC
CART = shipped_definitions()["abandoned_cart"]
CONSENTED = {"email:marketing": {"granted": True}}


def _people(count: int) -> list[str]:
    """Profiles the cart journey messages (not held out)."""
    people = (f"p{n}" for n in range(1000))
    return [p for p in people if assign(p, "abandoned_cart", 10, CART.experiment.variants) != "holdout"][:count]


def _at(hours: float, name: str, person: str, event_id: str) -> HistoryEvent:
    return HistoryEvent(
        START + timedelta(hours=hours), BusEvent(event_id, "cdp.tracking", name, {"profile_id": person})
    )


def _profile(person: str, **changes: Any) -> dict[str, Any]:
    return {"profile_id": person, "email": f"{person}@example.com", "consent": CONSENTED, "timezone": "UTC", **changes}


def test_the_cart_journey_on_history() -> None:
    # Given five carts: one completes, one orders an hour later (goal before the reminder), one has no consent,
    # one is abandoned at 20:30 (its reminder would fall in quiet hours), one is started twice the same day
    done, ordered, refused, late, twice = _people(5)
    history = [
        _at(0, "Checkout Started", done, "e1"),
        _at(0, "Checkout Started", ordered, "e2"), _at(0.5, "Order Completed", ordered, "e3"),
        _at(0, "Checkout Started", refused, "e4"),
        _at(10.5, "Checkout Started", late, "e5"),
        _at(1, "Checkout Started", twice, "e6"), _at(3, "Product Added", twice, "e7"),
    ]  # fmt: skip
    profiles = {p: _profile(p) for p in (done, ordered, late, twice)} | {refused: _profile(refused, consent={})}
    # When the window is replayed
    report = dry_run(CART, history, profiles, SendRules(), START, START + timedelta(days=7)).as_dict()
    # Then the counts say what would have happened
    assert report["entries"] == 5 and report["refused"] == {"already_active": 1}
    assert report["exited"] == {"goal": 1}
    assert report["steps"]["cart_reminder"]["sent"] == 3
    assert report["steps"]["cart_reminder"]["skipped"] == {"no_consent": 1}
    assert report["steps"]["cart_reminder"]["deferred"] >= 1  # the late cart waits for the morning
    assert report["suppressed"] == 2 and report["sent"] == 6


def test_the_frequency_cap_defers_then_expires() -> None:
    # Given a cap of one email per three days
    person = _people(1)[0]
    history = [_at(0, "Checkout Started", person, "e1")]
    rules = SendRules(caps={"email": (1, 3)})
    # When replayed
    report = dry_run(CART, history, {person: _profile(person)}, rules, START, START + timedelta(days=7)).as_dict()
    # Then the coupon (a day after the reminder) is deferred by the cap and expires before a slot frees
    assert report["capped"] == 1 and report["steps"]["cart_coupon"]["skipped"] == {"expired": 1}


def test_events_outside_the_window_and_held_out_people_are_not_messaged() -> None:
    held = next(
        f"p{n}" for n in range(1000) if assign(f"p{n}", "abandoned_cart", 10, CART.experiment.variants) == "holdout"
    )
    history = [_at(-48, "Checkout Started", _people(1)[0], "e0"), _at(1, "Checkout Started", held, "e1")]
    report = dry_run(CART, history, None, SendRules(), START, START + timedelta(days=1)).as_dict()
    assert (report["entries"], report["holdout"], report["sent"]) == (1, 1, 0)
