"""The hourly loyalty review: decide each member's tier and balance as of now, announce changes, save them.

Time changes loyalty without any record arriving (points expire, a year's spend rolls out of the window, a held
tier ends), so a scheduled review decides; records only fold into the ledger attributes it reads. Events:
`cdp.loyalty` / `Tier Changed` {profile_id, previous_tier, tier, direction, at} when the decided tier differs from
the stored one, `direction` being `up` or `down` the tiers' ladder, or `joined` for a first tier above the entry one
(enrolment into the entry tier is silent), and `Points Expiring` {profile_id, points, expires_at} once per
expiry day that falls within the notice period. The saved values are the record of what was announced, so they are
written after the events: a run that fails part-way publishes again next time (at least once, never lost), and a
replay after a save finds nothing changed and publishes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cdp.events import DomainEvent
from cdp.loyalty.ports import REVIEWED_ATTRIBUTES, LoyaltyRepository
from cdp.loyalty.rules import LoyaltyRules
from cdp.loyalty.status import balance, decide_tier, is_member
from cdp.profiles.model import plain

LOYALTY_EVENTS_SOURCE = "cdp.loyalty"


@dataclass
class LoyaltyReview:
    members: int = 0
    tiers: Counter[str] = field(default_factory=Counter)
    points: int = 0
    points_expiring: int = 0
    tier_changes: int = 0
    expiry_notices: int = 0
    saved: int = 0


def _decided(item: dict[str, Any], rules: LoyaltyRules, now: datetime) -> tuple[dict[str, Any], list[DomainEvent]]:
    profile_id = item["profile_id"]
    points = balance(item, rules, now)
    tier = decide_tier(item, rules, now)
    values = {
        "loyalty_tier": tier.tier,
        "loyalty_tier_at": tier.tier_since,
        "points_balance": points.points,
        "points_expiring": points.points_expiring,
        "points_expire_at": points.points_expire_at,
        "points_expiring_notified": item.get("points_expiring_notified"),
    }
    events: list[DomainEvent] = []
    if tier.changed and not (tier.previous_tier is None and rules.tiers.rank(tier.tier) == 0):
        detail = {
            "profile_id": profile_id,
            "previous_tier": tier.previous_tier,
            "tier": tier.tier,
            "direction": _direction(rules, tier.previous_tier, tier.tier),
            "at": tier.tier_since,
        }
        events.append(DomainEvent(source=LOYALTY_EVENTS_SOURCE, detail_type="Tier Changed", detail=detail))
    if points.points_expiring and points.points_expire_at != item.get("points_expiring_notified"):
        values["points_expiring_notified"] = points.points_expire_at
        detail = {"profile_id": profile_id, "points": points.points_expiring, "expires_at": points.points_expire_at}
        events.append(DomainEvent(source=LOYALTY_EVENTS_SOURCE, detail_type="Points Expiring", detail=detail))
    return values, events


def review_loyalty(
    store: LoyaltyRepository,
    rules: LoyaltyRules,
    now: datetime,
    publish_events: Callable[[list[DomainEvent]], object],
) -> LoyaltyReview:
    """Decide every member's status as of `now`; publish Tier Changed / Points Expiring, then save what changed."""
    review = LoyaltyReview()
    changed: dict[str, dict[str, Any]] = {}
    events: list[DomainEvent] = []
    for item in store.profiles():
        if not is_member(item):
            continue
        values, member_events = _decided(item, rules, now)
        review.members += 1
        review.tiers[values["loyalty_tier"]] += 1
        review.points += values["points_balance"]
        review.points_expiring += values["points_expiring"]
        events += member_events
        if any(plain(item.get(name)) != values[name] for name in REVIEWED_ATTRIBUTES):
            changed[item["profile_id"]] = values
    review.tier_changes = sum(event.detail_type == "Tier Changed" for event in events)
    review.expiry_notices = len(events) - review.tier_changes
    publish_events(events)
    review.saved = sum(store.save_review(profile_id, values) for profile_id, values in changed.items())
    return review


def _direction(rules: LoyaltyRules, previous_tier: str | None, tier: str) -> str:
    if previous_tier is None:
        return "joined"
    return "up" if rules.tiers.rank(tier) > rules.tiers.rank(previous_tier) else "down"
