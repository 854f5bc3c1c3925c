"""public_profile: the flat item in the typed profile's sections, bookkeeping hidden, numbers as JSON numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from cdp.profiles.aggregates import aggregate_profile
from cdp.profiles.read import public_profile

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_sections_group_the_flat_attributes() -> None:
    # Given a stored profile item with attributes of every section
    item = {
        "pk": "PROFILE#p1",
        "sk": "PROFILE",
        "profile_id": "p1",
        "aggregates_version": Decimal(3),
        **aggregate_profile([]),
        "orders_count": Decimal(2),
        "revenue": Decimal("55.50"),
        "order_ids": ["O1", "O2"],
        "first_name": "Ada",
        "city": "Lyon",
        "points_expiries": {"2026-01-01": Decimal(5), "2027-03-01": Decimal(100), "2027-06-01": Decimal(9)},
        "loyalty_tier": "gold",
        "loyalty_tier_at": "2026-05-01T00:00:00+00:00",
        "last_nps": Decimal(9),
        "rfm": {"r": Decimal(5), "segment": "champions"},
        "lifecycle_stage": "active",
        "memberships": ["high_value", "browse_abandoners"],
        "consent": {"email:marketing": {"granted": True}},
    }
    # When it is presented
    profile = public_profile(item, NOW, identifiers=[("email", "ada@example.com")])
    # Then each attribute sits in its section and bookkeeping stays hidden
    assert list(profile) == [
        "identity",
        "attributes",
        "behaviour",
        "loyalty",
        "value",
        "sentiment",
        "consent",
        "consent_history",
        "memberships",
        "recommendations",
    ]
    assert profile["identity"] == {"profile_id": "p1", "identifiers": [{"type": "email", "value": "ada@example.com"}]}
    assert profile["attributes"] == {"first_name": "Ada", "city": "Lyon"}
    assert (profile["behaviour"]["orders_count"], profile["behaviour"]["revenue"]) == (2, 55.5)
    assert profile["loyalty"] == {"points": 109, "points_expiring": 0, "points_expire_at": None, "tier": "gold",
                                  "tier_since": "2026-05-01T00:00:00+00:00"}  # fmt: skip
    assert profile["value"] == {"rfm": {"r": 5, "segment": "champions"}, "lifecycle_stage": "active"}
    assert profile["sentiment"]["last_nps"] == 9
    assert profile["consent"] == {"email:marketing": {"granted": True}}
    assert profile["memberships"] == ["rfm:champions", "lifecycle:active", "browse_abandoners", "high_value"]
    text = json.dumps(profile)
    assert "order_ids" not in text and "aggregates_version" not in text and "PROFILE#" not in text


def test_an_empty_profile_has_empty_sections() -> None:
    # Given / When a profile with nothing but its id
    profile = public_profile({"profile_id": "p2"}, NOW)
    # Then every section is present and empty
    assert profile["behaviour"] == {} and profile["loyalty"] == {}
