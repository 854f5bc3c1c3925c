"""KPIs: funnel rates, cost and ROI, cohort retention against a hand-computed table, repurchase, win-back, NPS and
CSAT, segment sizes and RFM migration, and orders folded from curated lines onto profiles."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
from cdp.coupons.offers import load_offers
from cdp.measure import kpis
from cdp.measure.attribution import attribute
from cdp.measure.orders import followed_through_merges, order_table
from cdp.measure.rules import MeasurementRules
from measure_tables import (
    DAY,
    FEEDBACK_SCHEMA,
    HOUR,
    MEMBER_SCHEMA,
    NOW,
    ORDER_LINE_SCHEMA,
    FakeOwners,
    message,
    messages,
    order,
    orders,
)

T0 = NOW - 20 * DAY


def test_funnel_rates_cost_and_roi() -> None:
    # Given four messages sent: 3 delivered (one of them twice, a duplicate event), 2 opened, 1 clicked and
    # bought with a coupon worth 5.00, 1 unsubscribed; one bounced; one SMS
    rows = [message(f"P{n}", "sent", T0) for n in range(4)] + [
        message("P0", "delivered", T0 + HOUR), message("P0", "delivered", T0 + HOUR),
        message("P1", "delivered", T0 + HOUR), message("P2", "delivered", T0 + HOUR), message("P3", "bounced", T0 + HOUR),
        message("P0", "opened", T0 + 2 * HOUR), message("P1", "opened", T0 + 2 * HOUR),
        message("P0", "clicked", T0 + 3 * HOUR), message("P2", "unsubscribed", T0 + 3 * HOUR),
        message("P9", "sent", T0, channel="sms", key="sms-1"),
    ]  # fmt: skip
    table = messages(rows)
    attributed = attribute(orders([order("O1", "P0", T0 + DAY, 100.0, coupon="SPRING", discount=5.0)]), table,
                           MeasurementRules().touches)  # fmt: skip
    # When the headline is computed
    result = kpis.headline(table, attributed, MeasurementRules(), load_offers())
    # Then rates count distinct messages
    assert result["counts"]["sent"] == 5 and result["counts"]["delivered"] == 3
    assert result["rates"] == {"delivery": 0.6, "open": round(2 / 3, 6), "click": round(1 / 3, 6),
                               "conversion": round(1 / 3, 6), "unsubscribe": round(1 / 3, 6), "complaint": 0.0}  # fmt: skip
    # and cost is 4 emails + 1 SMS at the rules' prices plus the coupon's discount
    assert result["cost"]["messages"] == round(4 * 0.0001 + 0.00883, 2)
    assert result["cost"]["coupons"] == 5.0
    cost = 4 * 0.0001 + 0.00883 + 5.0
    assert result["roi"] == round((100.0 - cost) / cost, 4)
    assert [f["origin_name"] for f in kpis.funnels(table, attributed)] == ["spring_sale"]


def test_a_coupon_without_a_discount_in_the_export_costs_its_offers_discount_else_the_rules_price() -> None:
    # Given three clicked messages, each followed by an order using a code and no discount amount: one the welcome
    # offer generated (10 % off), one from the VIP gift pool (25 off), one the shop made elsewhere
    table = messages([message(f"P{n}", event, T0 + n * HOUR, key=f"k{n}") for n in range(3) for event in ("sent", "clicked")])
    placed = [order("O0", "P0", T0 + DAY, 80.0, coupon="WELCOME-7KQ2M9XA"), order("O1", "P1", T0 + DAY, 60.0, coupon="VIPGIFT-7Q2M"),
              order("O2", "P2", T0 + DAY, 50.0, coupon="SHOPMADE1")]  # fmt: skip
    attributed = attribute(orders(placed), table, MeasurementRules().touches)
    # When the headline is computed with a price of 7.50 for codes no offer gave
    result = kpis.headline(table, attributed, MeasurementRules(coupon_cost=7.5), load_offers())
    # Then each redemption costs what its offer takes off that order
    assert result["coupons_redeemed"] == 3 and result["cost"]["coupons"] == 8.0 + 25.0 + 7.5


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_cohort_retention_matches_a_hand_computed_table() -> None:
    # Given P1 (signed up in January, ordered in January and twice in February), P2 (January, ordered in March),
    # P3 (February, ordered in February), P4 (February, never ordered)
    customers = pa.table({
        "profile_id": ["P1", "P2", "P3", "P4"],
        "signup_at": pa.array([_at("2026-01-10"), _at("2026-01-20"), _at("2026-02-05"), _at("2026-02-28")],
                              pa.timestamp("us", tz="UTC")),
    })  # fmt: skip
    bought = orders([
        order("A", "P1", _at("2026-01-15"), 10), order("B", "P1", _at("2026-02-03"), 10),
        order("C", "P1", _at("2026-02-20"), 10), order("D", "P2", _at("2026-03-01"), 10),
        order("E", "P3", _at("2026-02-06"), 10), order("F", "P9", _at("2026-02-06"), 10),
    ])  # fmt: skip
    # When retention by monthly cohort is computed over three months
    result = kpis.cohorts(customers, bought, 3, _at("2026-03-31"))
    # Then, by hand: January (P1, P2): month 0 P1, month 1 P1, month 2 P2; February (P3, P4): month 0 P3 only,
    # and its month 2 (April) has not come yet
    assert result["cohorts"] == [
        {"cohort": "2026-01", "size": 2, "retention": [0.5, 0.5, 0.5], "repurchase_rate": 0.5},
        {"cohort": "2026-02", "size": 2, "retention": [0.5, 0.0, None], "repurchase_rate": 0.0},
    ]
    # and a month not yet come is empty, not zero
    assert kpis.cohorts(customers, bought, 3, _at("2026-02-15"))["cohorts"][1]["retention"] == [0.5, None, None]
    # and of the four buyers (P9 has no signup but bought), only P1 ordered again
    assert result["repurchase_rate"] == 0.25


def test_win_back_of_the_dormant_at_a_run() -> None:
    dormant = pa.table({"segment": ["lifecycle_dormant"] * 4, "profile_id": ["P1", "P2", "P3", "P4"]})
    bought = orders([order("A", "P1", T0 + DAY, 10), order("B", "P2", T0 - DAY, 10), order("C", "P1", T0 + 2 * DAY, 10)])
    result = kpis.win_back(dormant, T0, bought)
    assert (result["dormant"], result["won_back"], result["rate"]) == (4, 1, 0.25)


def test_nps_and_csat() -> None:
    # Given NPS answers 10, 9, 8, 6, 0 (2 promoters, 2 detractors of 5) and CSAT answers 5, 4, 3, 1
    answers = [("nps", s) for s in (10, 9, 8, 6, 0)] + [("csat", s) for s in (5, 4, 3, 1)]
    feedback = pa.Table.from_pylist([{"kind": kind, "score": score, "responded_at": T0} for kind, score in answers],
                                    schema=FEEDBACK_SCHEMA)  # fmt: skip
    result = kpis.satisfaction(feedback)
    assert (result["nps"], result["nps_answers"], result["csat"], result["csat_answers"]) == (0.0, 5, 50.0, 4)
    assert result["monthly"][0]["month"] == T0.strftime("%Y-%m")


def test_segment_sizes_and_rfm_migration() -> None:
    before = pa.Table.from_pylist([
        {"segment": "rfm_at_risk", "profile_id": "P1"}, {"segment": "rfm_at_risk", "profile_id": "P2"},
        {"segment": "rfm_champions", "profile_id": "P3"}, {"segment": "lifecycle_active", "profile_id": "P3"},
    ], schema=MEMBER_SCHEMA)  # fmt: skip
    after = pa.Table.from_pylist([
        {"segment": "rfm_loyal_customers", "profile_id": "P1"}, {"segment": "rfm_at_risk", "profile_id": "P2"},
        {"segment": "rfm_new_customers", "profile_id": "P4"},
    ], schema=MEMBER_SCHEMA)  # fmt: skip
    assert kpis.rfm_migration(before, after, "rfm_") == {
        "(none)": {"rfm_new_customers": 1},
        "rfm_at_risk": {"rfm_at_risk": 1, "rfm_loyal_customers": 1},
        "rfm_champions": {"(none)": 1},
    }
    sizes = kpis.segment_sizes([("d1", before), ("d2", after)])
    assert sizes[0] == {"run": "d1", "sizes": {"lifecycle_active": 1, "rfm_at_risk": 2, "rfm_champions": 1}}


def test_orders_are_folded_from_completed_lines_onto_live_profiles() -> None:
    # Given two lines of one order by customer id, a cancelled order, a guest order and an order by the email of a
    # profile since merged into another
    lines = pa.Table.from_pylist([
        {"order_id": "O1", "line_id": "1", "customer_id": "C1", "ordered_at": T0, "line_amount": Decimal("10.50"),
         "status": "completed", "coupon": "WELCOME", "discount": Decimal("2")},
        {"order_id": "O1", "line_id": "2", "customer_id": "C1", "ordered_at": T0 + HOUR, "line_amount": Decimal("4.50"),
         "status": "completed"},
        {"order_id": "O2", "line_id": "1", "customer_id": "C1", "ordered_at": T0, "line_amount": Decimal("9"), "status": "cancelled"},
        {"order_id": "O3", "line_id": "1", "email": "guest@shop.test", "ordered_at": T0, "line_amount": Decimal("3"), "status": "completed"},
        {"order_id": "O4", "line_id": "1", "email": "c7@example.com", "ordered_at": T0, "line_amount": Decimal("8"), "status": "completed"},
    ], schema=ORDER_LINE_SCHEMA)  # fmt: skip
    # When folded
    result = order_table(lines, FakeOwners(merged={"P7": "P8"})).sort_by("order_id").to_pylist()
    # Then one row per completed order of a known profile, revenue summed, the merged profile followed
    assert [(r["order_id"], r["profile_id"], r["revenue"], r["coupon"], r["discount"]) for r in result] == [
        ("O1", "P1", 15.0, "WELCOME", 2.0), ("O4", "P8", 8.0, None, None),
    ]
    assert result[0]["ordered_at"] == T0


def test_a_message_sent_before_a_merge_converts_on_the_surviving_profiles_order() -> None:
    # Given a click by P7, which then merged into P8, and P8's order the next day; and P9's click, not merged
    sent = messages([message("P7", "clicked", T0), message("P9", "clicked", T0)])
    owners = FakeOwners(merged={"P7": "P8"})
    placed = orders([order("O1", "P8", T0 + DAY, 40.0)])
    # When the messages are followed through merges before attribution
    followed = followed_through_merges(sent, owners)
    # Then the click is the order's conversion; unmerged profiles keep their ids
    assert followed.column("profile_id").to_pylist() == ["P8", "P9"]
    assert attribute(placed, followed, MeasurementRules().touches).column("order_id").to_pylist() == ["O1"]
    assert attribute(placed, sent, MeasurementRules().touches).num_rows == 0


def test_personas_are_taken_only_when_well_formed() -> None:
    from cdp.measure.report import personas_of

    summary = {"personas": [{"name": "Loyal", "size": 12, "description": "often"}, {"name": "Odd", "size": "many"},
                            {"size": 3}, "not a persona"]}  # fmt: skip
    assert personas_of(summary) == [{"name": "Loyal", "description": "often", "size": 12},
                                    {"name": "Odd", "description": "", "size": None}]  # fmt: skip
    assert personas_of({"personas": "none"}) == [] and personas_of({}) == []
