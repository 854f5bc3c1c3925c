"""The shipped definitions (RFM, lifecycle, marketing segments and tags) on hand-made tables, members worked out by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
import pytest
from cdp.segments.definitions import load_library
from cdp.segments.evaluate import Evaluation, evaluate
from cdp.segments.rfm import score_profiles
from segment_tables import AS_OF, DAY, HOUR, events, order_lines, profiles

LIBRARY = load_library()


def _evaluate(people: list[dict[str, Any]], tracked: pa.Table | None = None, ordered: pa.Table | None = None) -> Evaluation:
    return evaluate(LIBRARY, profiles(people), tracked or events(), ordered or order_lines(), AS_OF)


def _members(result: Evaluation, name: str) -> list[str]:
    return sorted(result.members(name).to_pylist())


# ---------------------------------------------------------------- RFM

# The R x F grid, written out by hand: rows R 5..1, columns F 1..5.
GRID_BY_HAND = {
    5: ["new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"],
    4: ["promising", "potential_loyalists", "potential_loyalists", "loyal_customers", "loyal_customers"],
    3: ["about_to_sleep", "about_to_sleep", "need_attention", "loyal_customers", "loyal_customers"],
    2: ["hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose_them"],
    1: ["lost", "lost", "at_risk", "at_risk", "cannot_lose_them"],
}


def _rfm_grid_people() -> list[dict[str, Any]]:
    """25 buyers, one per (R, F) cell: five share each recency (R a: (6 - a) x 100 days ago, the most recent
    scores 5) and five share each order count (F b: b orders), so every quintile holds exactly five buyers; and one
    profile that never ordered."""
    people = [
        {"profile_id": f"r{r}f{f}", "first_seen_at": 900 * DAY, "last_order_at": (6 - r) * 100 * DAY,
         "orders_count": f, "revenue": 10.0 * f}
        for r in range(1, 6) for f in range(1, 6)
    ]  # fmt: skip
    return [*people, {"profile_id": "never", "first_seen_at": 900 * DAY, "orders_count": 0, "revenue": 0.0}]


def test_the_eleven_rfm_segments_follow_the_grid_cell_by_cell() -> None:
    # Given
    people = _rfm_grid_people()
    # When
    result = _evaluate(people)
    # Then: each cell's buyer is in exactly its named segment; the non-buyer in none
    rfm_names = [segment.name for segment in LIBRARY.segments if segment.name.startswith("rfm_")]
    assert len(rfm_names) == 11
    for r, row in GRID_BY_HAND.items():
        for f, name in enumerate(row, start=1):
            held = [segment for segment in rfm_names if f"r{r}f{f}" in result.members(segment).to_pylist()]
            assert held == [f"rfm_{name}"], (r, f)
    assert not any("never" in result.members(name).to_pylist() for name in rfm_names)


def test_the_rfm_segments_agree_with_the_scored_rfm_segment_of_every_profile() -> None:
    # Given: the grid buyers and the hourly job's own scoring
    people = _rfm_grid_people()
    scored = score_profiles(profiles(people), AS_OF)
    by_job = dict(zip(scored["profile_id"].to_pylist(), scored["rfm_segment"].to_pylist()))
    # When
    result = _evaluate(people)
    # Then
    for segment in (segment.name for segment in LIBRARY.segments if segment.name.startswith("rfm_")):
        for profile_id in result.members(segment).to_pylist():
            assert "rfm_" + by_job[profile_id].lower().replace(" ", "_") == segment


# ---------------------------------------------------------------- lifecycle

LIFECYCLE_PEOPLE = [
    {"profile_id": "new_visitor", "first_seen_at": 10 * DAY, "orders_count": 0},
    {"profile_id": "new_buyer", "first_seen_at": 10 * DAY, "orders_count": 1, "last_order_at": 5 * DAY},
    {"profile_id": "prospect", "first_seen_at": 100 * DAY, "orders_count": 0},
    {"profile_id": "fast_repeat", "first_seen_at": 10 * DAY, "orders_count": 2, "last_order_at": 3 * DAY},
    {"profile_id": "active", "first_seen_at": 400 * DAY, "orders_count": 3, "last_order_at": 89 * DAY},
    {"profile_id": "dormant_early", "first_seen_at": 400 * DAY, "orders_count": 2, "last_order_at": 91 * DAY},
    {"profile_id": "dormant_late", "first_seen_at": 600 * DAY, "orders_count": 2, "last_order_at": 364 * DAY},
    {"profile_id": "churned", "first_seen_at": 900 * DAY, "orders_count": 4, "last_order_at": 366 * DAY},
]
LIFECYCLE_BY_HAND = {
    "lifecycle_new": ["new_buyer", "new_visitor"],
    "lifecycle_prospect": ["prospect"],
    "lifecycle_active": ["active", "fast_repeat"],
    "lifecycle_dormant": ["dormant_early", "dormant_late"],
    "lifecycle_churned": ["churned"],
}


def test_lifecycle_stages_put_every_profile_in_exactly_one_stage() -> None:
    # When
    people = [{"revenue": 1.0, **person} for person in LIFECYCLE_PEOPLE]
    result = _evaluate(people)
    # Then
    assert {name: _members(result, name) for name in LIFECYCLE_BY_HAND} == LIFECYCLE_BY_HAND
    scored = score_profiles(profiles(people), AS_OF)
    by_job = dict(zip(scored["profile_id"].to_pylist(), scored["lifecycle_stage"].to_pylist()))
    assert {f"lifecycle_{stage}" for stage in by_job.values()} == set(LIFECYCLE_BY_HAND)
    for name, members in LIFECYCLE_BY_HAND.items():
        assert all(f"lifecycle_{by_job[member]}" == name for member in members)


# ---------------------------------------------------------------- value segments


def _buyers() -> list[dict[str, Any]]:
    """Ten buyers b1..b10 with revenue 10 x i and i orders; b10 (top) ordered 100 days ago, b9 10 days ago, b8 200."""
    last_order_days = {10: 100, 9: 10, 8: 200}
    return [
        {"profile_id": f"b{i}", "first_seen_at": 900 * DAY, "orders_count": i, "revenue": 10.0 * i,
         "last_order_at": last_order_days.get(i, 30) * DAY}
        for i in range(1, 11)
    ]  # fmt: skip


def test_high_value_is_the_top_fifth_of_buyers_by_revenue() -> None:
    result = _evaluate([*_buyers(), {"profile_id": "visitor", "first_seen_at": DAY, "orders_count": 0, "revenue": 0.0}])
    assert _members(result, "high_value") == ["b10", "b9"]


def test_at_risk_high_value_is_high_value_with_no_order_for_90_days() -> None:
    assert _members(_evaluate(_buyers()), "at_risk_high_value") == ["b10"]  # b9 ordered recently, b8 is not top


def test_one_time_buyers_have_exactly_one_order() -> None:
    people = [{"profile_id": f"p{n}", "orders_count": n} for n in (0, 1, 2)] + [{"profile_id": "unknown"}]
    assert _members(_evaluate(people), "one_time_buyers") == ["p1"]


def test_discount_sensitive_buyers_used_a_discount_on_half_their_orders_in_a_year() -> None:
    # Given
    def order(profile_id: str, days: int, discount: float) -> tuple[str, str, Any, dict[str, Any]]:
        return (profile_id, "Order Completed", days * DAY, {"discount": discount})

    tracked = events([
        order("half", 10, 5.0), order("half", 20, 0.0),
        order("never_discounted", 10, 0.0), order("never_discounted", 20, 0.0),
        order("single", 10, 5.0),
        order("old_discounts", 10, 0.0), order("old_discounts", 20, 0.0), order("old_discounts", 400, 5.0),
        order("old_discounts", 500, 5.0),
        order("mostly", 1, 1.0), order("mostly", 2, 1.0), order("mostly", 3, 0.0),
    ])  # fmt: skip
    people = [{"profile_id": name} for name in ("half", "never_discounted", "single", "old_discounts", "mostly")]
    # When
    result = _evaluate(people, tracked=tracked)
    # Then
    assert _members(result, "discount_sensitive") == ["half", "mostly"]
    shares = dict(zip(result.tags["profile_id"].to_pylist(), result.tags["discount_share"].to_pylist()))
    assert shares["old_discounts"] == 0.0 and shares["mostly"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------- behaviour in the last day


def test_cart_and_browse_abandoners_in_the_last_24_hours() -> None:
    # Given
    tracked = events([
        ("cart_open", "Product Added", 2 * HOUR, {}),
        ("cart_bought", "Product Added", 2 * HOUR, {}), ("cart_bought", "Order Completed", HOUR, {}),
        ("cart_old", "Product Added", 30 * HOUR, {}),
        ("cart_after_old_order", "Product Added", 5 * HOUR, {}), ("cart_after_old_order", "Order Completed", 3 * DAY, {}),
        ("browsed", "Product Viewed", 3 * HOUR, {}),
        ("browsed_and_added", "Product Viewed", 3 * HOUR, {}), ("browsed_and_added", "Product Added", 2 * HOUR, {}),
        ("browsed_long_ago", "Product Viewed", 30 * HOUR, {}),
        ("browsed_and_bought", "Product Viewed", HOUR, {}), ("browsed_and_bought", "Order Completed", 10 * HOUR, {}),
    ])  # fmt: skip
    people = [{"profile_id": profile_id} for profile_id in sorted(set(tracked["profile_id"].to_pylist()))]
    # When
    result = _evaluate(people, tracked=tracked)
    # Then
    assert _members(result, "cart_abandoners") == ["browsed_and_added", "cart_after_old_order", "cart_open"]
    assert _members(result, "browse_abandoners") == ["browsed"]


# ---------------------------------------------------------------- dates and loyalty


def test_birthday_this_month_matches_the_month_whatever_the_year() -> None:
    people = [
        {"profile_id": "end_of_month", "birthday": date(1990, 11, 30)},
        {"profile_id": "first_of_month", "birthday": date(2000, 11, 1)},
        {"profile_id": "last_month", "birthday": date(1990, 10, 31)},
        {"profile_id": "unknown"},
    ]
    assert _members(_evaluate(people), "birthday_this_month") == ["end_of_month", "first_of_month"]


def test_points_expiring_in_the_next_7_days() -> None:
    people = [
        {"profile_id": "in_3_days", "points_next_expiry_at": -3 * DAY, "points_next_expiry": 100},
        {"profile_id": "in_8_days", "points_next_expiry_at": -8 * DAY, "points_next_expiry": 100},
        {"profile_id": "nothing_left", "points_next_expiry_at": -2 * DAY, "points_next_expiry": 0},
        {"profile_id": "already_expired", "points_next_expiry_at": 2 * DAY, "points_next_expiry": 50},
    ]
    assert _members(_evaluate(people), "points_expiring_7_days") == ["in_3_days"]


def test_vip_tier_members_hold_a_vip_tier() -> None:
    people = [{"profile_id": tier or "none", "loyalty_tier": tier} for tier in ("vip", "platinum", "gold", None)]
    assert _members(_evaluate(people), "vip_tier") == ["platinum", "vip"]


# ---------------------------------------------------------------- tags


def test_the_library_tags_of_one_customer() -> None:
    # Given: shoes twice and a bag, on the web and in the app, orders 10 and 40 days ago
    ordered = order_lines([
        ("p1", "o1", 40 * DAY, {"category": "shoes", "channel": "web"}),
        ("p1", "o2", 10 * DAY, {"category": "shoes", "channel": "web"}),
        ("p1", "o2", 10 * DAY, {"category": "bags", "channel": "app"}),
    ])  # fmt: skip
    tracked = events([
        ("p1", "Product Viewed", 2 * DAY, {"product_id": "older"}),
        ("p1", "Product Viewed", 1 * DAY, {"product_id": "newer"}),
        ("p1", "Order Completed", 10 * DAY, {"discount": 0.0}),
    ])  # fmt: skip
    # When
    tags = _evaluate([{"profile_id": "p1"}], tracked=tracked, ordered=ordered).tags.to_pylist()[0]
    # Then
    assert tags == {
        "profile_id": "p1", "favourite_category": "shoes", "average_days_between_orders": 30.0,
        "discount_share": 0.0, "last_product_viewed": "newer", "preferred_channel": "web",
        "active_hour": AS_OF.hour,
    }  # fmt: skip
