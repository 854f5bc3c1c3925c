"""The profile as the API shows it: the stored item read into the typed `Profile` (cdp.profiles.model).

Memberships are the segments the segment run stores on the item (`rfm.segment`, `lifecycle_stage`), named as the
segment items name them (`rfm:<segment>`, `lifecycle:<stage>`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cdp.loyalty.rules import load_rules
from cdp.loyalty.status import balance, is_member
from cdp.profiles.model import (
    Attributes,
    Behaviour,
    ConsentHistory,
    Identity,
    Loyalty,
    Profile,
    Sentiment,
    Value,
    plain,
    section_values,
)

PERSON_ATTRIBUTES = tuple(name for name in Attributes.model_fields if name != "signed_up_at")
# what a customer record says about the person besides identifiers; each keeps its newest observation


def memberships(item: dict[str, Any]) -> list[str]:
    """The segments the profile is in: its RFM segment and lifecycle stage, then the defined segments by name (the
    scheduled run stores their list, live segments a map of name to entry)."""
    rfm, stage = item.get("rfm"), item.get("lifecycle_stage")
    named = [f"rfm:{rfm['segment']}"] if isinstance(rfm, dict) and rfm.get("segment") else []
    stored = item.get("memberships")
    defined = sorted(str(name) for name in stored) if isinstance(stored, (dict, list, set)) else []
    return named + ([f"lifecycle:{stage}"] if stage else []) + defined


def profile_view(
    item: dict[str, Any], now: datetime | None = None, identifiers: list[tuple[str, str]] | None = None
) -> Profile:
    """The typed profile; `identifiers` (from the identity items) are listed in the identity section."""
    identity = Identity.model_validate(section_values(item, Identity))
    if identifiers is not None:
        identity = Identity.model_validate(
            {**section_values(item, Identity), "identifiers": [{"type": kind, "value": value} for kind, value in identifiers]}
        )
    loyalty = Loyalty()
    if is_member(item):
        points = balance(item, load_rules(), now or datetime.now(UTC))
        stored = item.get("loyalty_tier")
        tier = {"tier": stored, "tier_since": item.get("loyalty_tier_at")} if stored else {}
        loyalty = Loyalty(points=points.points, points_expiring=points.points_expiring,
                          points_expire_at=points.points_expire_at, **tier)  # fmt: skip
    return Profile(
        identity=identity,
        attributes=Attributes.model_validate(section_values(item, Attributes)),
        behaviour=Behaviour.model_validate(section_values(item, Behaviour)),
        loyalty=loyalty,
        value=Value.model_validate(section_values(item, Value)),
        sentiment=Sentiment.model_validate(section_values(item, Sentiment)),
        consent=plain(item.get("consent") or {}),
        consent_history=ConsentHistory(statements=plain(item.get("consent_statements", 0)), last_at=item.get("consent_updated_at")),
        memberships=memberships(item),
        recommendations=plain(item.get("recommendations") or []),
    )


def public_profile(
    item: dict[str, Any], now: datetime | None = None, identifiers: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The profile's JSON as the API answers it."""
    return profile_view(item, now, identifiers).as_json()
