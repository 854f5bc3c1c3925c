"""Loyalty rules as data, points priced per record, balance with expiry, tier decisions and the review's events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from cdp.loyalty.points import record_points
from cdp.loyalty.review import review_loyalty
from cdp.loyalty.rules import InvalidLoyaltyRules, load_rules, parse_rules
from cdp.loyalty.status import balance, decide_tier
from cdp.profiles.aggregates import aggregate_profile

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
RULES = parse_rules(
    json.dumps(
        {
            "points_per_unit": {"GBP": 1, "CNY": 0.1},
            "category_multipliers": {"beauty": 2},
            "points_expire_after_days": 365,
            "expiring_notice_days": 30,
            "member_day": {"day_of_month": 8, "multiplier": 3},
            "tiers": {
                "basis": "spend_12m",
                "levels": [
                    {"name": "member", "threshold": 0},
                    {"name": "silver", "threshold": 100},
                    {"name": "gold", "threshold": 500},
                ],
                "keep_tier_days": 90,
            },
        }  # fmt: skip
    )
)


def test_the_shipped_rules_file_is_valid() -> None:
    # Given / When the packaged rules are loaded / Then they validate and name their tiers
    assert [level.name for level in load_rules().tiers.levels][0] == "member"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"points_per_unit": {"gbp": 1}}, "points_per_unit: Value error, 'gbp' is not an ISO 4217 currency code"),
        ({"member_day": {"day_of_month": 31, "multiplier": 2}}, "member_day.day_of_month"),
        (
            {"tiers": {"basis": "spend_12m", "levels": [{"name": "silver", "threshold": 10}], "keep_tier_days": 0}},
            "the first tier's threshold must be 0",
        ),  # fmt: skip
        ({"tiers": {"basis": "visits", "levels": [{"name": "m", "threshold": 0}], "keep_tier_days": 0}}, "tiers.basis"),
        ({"expiring_notice_days": 400}, "expiring_notice_days"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
    ],
)
def test_bad_rules_are_refused_with_the_problem_named(change: dict[str, Any], message: str) -> None:
    # Given the shipped rules with one mistake
    rules = json.loads(RULES.model_dump_json()) | change
    # When they are parsed / Then the error names the field and the problem
    with pytest.raises(InvalidLoyaltyRules, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rules(json.dumps(rules))


def test_not_json_is_refused() -> None:
    with pytest.raises(InvalidLoyaltyRules, match="not JSON"):
        parse_rules("{points")


@pytest.mark.parametrize(
    ("entity", "record", "expected"),
    [
        ("orders", {"status": "completed", "currency": "GBP", "line_amount": "59.99", "ordered_at": "2026-11-02T10:00"},
         {"points": 59, "points_expire_at": "2027-11-02"}),
        ("orders", {"status": "completed", "currency": "GBP", "line_amount": "10", "category": "beauty",
                    "ordered_at": "2026-11-08T10:00"}, {"points": 60, "points_expire_at": "2027-11-08"}),
        ("orders", {"status": "completed", "currency": "CNY", "line_amount": "399", "ordered_at": "2026-11-02T10:00"},
         {"points": 39, "points_expire_at": "2027-11-02"}),
        ("orders", {"status": "completed", "currency": "USD", "line_amount": "99", "ordered_at": "2026-11-02"}, {}),
        ("orders", {"status": "cancelled", "currency": "GBP", "line_amount": "-20", "quantity": -1,
                    "ordered_at": "2026-11-03"}, {"points": -20}),
        ("orders", {"status": "cancelled", "currency": "GBP", "line_amount": "20", "ordered_at": "2026-11-03"}, {}),
        ("orders", {"status": "refunded", "currency": "GBP", "line_amount": "20", "ordered_at": "2026-11-03"}, {}),
        ("returns", {"currency": "GBP", "amount": "12.5", "returned_at": "2026-11-04"}, {"points": -12}),
        ("loyalty", {"points": 50, "occurred_at": "2026-01-01T00:00:00+00:00"},
         {"points": 50, "points_expire_at": "2027-01-01"}),
        ("loyalty", {"points": 50, "occurred_at": "2026-01-01", "expires_at": "2026-06-30T00:00:00+00:00"},
         {"points": 50, "points_expire_at": "2026-06-30"}),
        ("loyalty", {"points": -40, "occurred_at": "2026-01-01"}, {"points": -40}),
        ("events", {"event": "Order Completed"}, {}),
    ],
)  # fmt: skip
def test_points_priced_per_record(entity: str, record: dict[str, Any], expected: dict[str, Any]) -> None:
    # Given a record / When it is priced / Then rate x category x member day, rounded down; deductions negative
    assert record_points(entity, record, RULES) == expected


def _ledger(*entries: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"entity": entity, "record": {**record, **record_points(entity, record, RULES)}} for entity, record in entries
    ]


def _order(order_id: str, at: str, amount: str) -> tuple[str, dict[str, Any]]:
    return "orders", {"order_id": order_id, "status": "completed", "currency": "GBP", "line_amount": amount,
                      "quantity": 1, "ordered_at": at}  # fmt: skip


def test_balance_spends_soonest_expiring_first_and_notices_what_expires() -> None:
    # Given 100 points earned a year ago (expiring in 20 days), 50 earned last month, 30 redeemed last week
    item = aggregate_profile(
        _ledger(
            _order("O1", "2025-12-23T09:00:00+00:00", "100"),
            _order("O2", "2026-11-01T09:00:00+00:00", "50"),
            ("loyalty", {"entry_id": "L1", "points": -30, "occurred_at": "2026-11-26T00:00:00+00:00"}),
        )
    )
    # When the balance is read now
    points = balance(item, RULES, NOW)
    # Then the redemption took from the older bucket: 70 of it expire on 2026-12-23
    assert (points.points, points.points_expiring, points.points_expire_at) == (120, 70, "2026-12-23")
    # And after that day only the newer points are left
    assert balance(item, RULES, datetime(2026, 12, 23, tzinfo=UTC)).points == 50


def test_a_redemption_never_spends_points_already_expired() -> None:
    # Given 100 points that expired on 2026-01-05 and 40 earned later; 60 redeemed on 2026-02-01
    item = aggregate_profile(
        _ledger(
            _order("O1", "2025-01-05T09:00:00+00:00", "100"),
            _order("O2", "2026-01-10T09:00:00+00:00", "40"),
            ("loyalty", {"entry_id": "L1", "points": -60, "occurred_at": "2026-02-01T00:00:00+00:00"}),
        )
    )
    # When / Then the redemption emptied the valid bucket and nothing more
    assert balance(item, RULES, NOW).points == 0


SPEND_12M_600 = {"2026-02": Decimal(600)}
SPEND_12M_150 = {"2026-02": Decimal(150), "2025-11": Decimal(900)}  # November 2025 is outside the window


@pytest.mark.parametrize(
    ("stored", "spend", "assigned", "expected"),
    [
        ((None, None), {}, None, ("member", NOW.isoformat())),
        ((None, None), SPEND_12M_600, None, ("gold", NOW.isoformat())),
        (("member", "2026-01-01T00:00:00+00:00"), SPEND_12M_150, None, ("silver", NOW.isoformat())),
        (("silver", "2026-01-01T00:00:00+00:00"), SPEND_12M_150, None, ("silver", "2026-01-01T00:00:00+00:00")),
        (("gold", "2026-10-01T00:00:00+00:00"), SPEND_12M_150, None, ("gold", "2026-10-01T00:00:00+00:00")),
        (("gold", "2026-01-01T00:00:00+00:00"), SPEND_12M_150, None, ("silver", NOW.isoformat())),
        (("gold", "2026-01-01T00:00:00+00:00"), {}, None, ("member", NOW.isoformat())),
        (("member", "2026-01-01T00:00:00+00:00"), {}, ("gold", "2026-11-30T00:00:00+00:00"), ("gold", NOW.isoformat())),
        (("member", "2026-01-01T00:00:00+00:00"), {}, ("gold", "2025-11-30T00:00:00+00:00"),
         ("member", "2026-01-01T00:00:00+00:00")),
        (("platinum", "2026-11-01T00:00:00+00:00"), {}, None, ("member", NOW.isoformat())),
        ((None, None), {"2026-02": Decimal(-40)}, None, ("member", NOW.isoformat())),
    ],
    ids=["enrol", "enrol-high", "upgrade", "hold", "held-downgrade-waits", "downgrade", "downgrade-to-qualified",
         "assigned-tier", "assigned-expired", "tier-no-longer-in-rules", "more-refunded-than-bought"],
)  # fmt: skip
def test_tier_decisions(
    stored: tuple[str | None, str | None],
    spend: dict[str, Decimal],
    assigned: tuple[str, str] | None,
    expected: tuple[str, str],
) -> None:
    # Given a stored tier, the monthly spend and maybe a tier the shop assigned
    item: dict[str, Any] = {"loyalty_tier": stored[0], "loyalty_tier_at": stored[1], "spend_by_month": spend}
    if assigned:
        item |= {"assigned_tier": assigned[0], "assigned_tier_at": assigned[1]}
    # When the tier is decided now / Then upgrades are immediate and downgrades wait out the held period
    decision = decide_tier(item, RULES, NOW)
    assert (decision.tier, decision.tier_since) == expected


def test_one_level_downgrade() -> None:
    rules = RULES.model_copy(update={"tiers": RULES.tiers.model_copy(update={"downgrade_to": "one_level"})})
    item = {"loyalty_tier": "gold", "loyalty_tier_at": "2025-01-01T00:00:00+00:00", "spend_by_month": {}}
    assert decide_tier(item, rules, NOW).tier == "silver"


class FakeLoyaltyStore:
    """Profile items in memory, saved values merged into them."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = {item["profile_id"]: item for item in items}

    def profiles(self) -> list[dict[str, Any]]:
        return [dict(item) for item in self.items.values()]

    def save_review(self, profile_id: str, values: dict[str, Any]) -> bool:
        self.items[profile_id].update(values)
        return True


def test_review_announces_each_change_once_under_replays() -> None:
    # Given a gold-level spender, a member with points expiring soon, and a profile with no loyalty history
    gold = {"profile_id": "p1", **aggregate_profile(_ledger(_order("O1", "2026-11-02T09:00:00+00:00", "600")))}
    expiring = {"profile_id": "p2", **aggregate_profile(_ledger(_order("O2", "2025-12-20T09:00:00+00:00", "40")))}
    store = FakeLoyaltyStore([gold, expiring, {"profile_id": "p3", **aggregate_profile([])}])
    published: list[Any] = []
    # When the review runs twice (a replay) and once more the next day
    first = review_loyalty(store, RULES, NOW, published.extend)
    replay = review_loyalty(store, RULES, NOW, published.extend)
    # Then the first run announced the upgrade and the expiry, the replay nothing
    assert [(event.detail_type, event.detail) for event in published] == [
        ("Tier Changed", {"profile_id": "p1", "previous_tier": None, "tier": "gold", "direction": "joined", "at": NOW.isoformat()}),
        ("Points Expiring", {"profile_id": "p2", "points": 40, "expires_at": "2026-12-20"}),
    ]
    assert (first.members, dict(first.tiers), first.points, first.points_expiring) == (2, {"gold": 1, "member": 1},
                                                                                       640, 40)  # fmt: skip
    assert (first.tier_changes, first.expiry_notices, first.saved) == (1, 1, 2)
    assert (replay.tier_changes, replay.expiry_notices, replay.saved) == (0, 0, 0)
    assert store.items["p1"]["loyalty_tier"] == "gold" and store.items["p2"]["points_expiring_notified"] == "2026-12-20"
