"""RFM quintiles, the R x F grid and lifecycle stages, on hand-made tables."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from cdp.segments.lifecycle import load_thresholds, next_stage_change
from cdp.segments.realtime import profile_fields
from cdp.segments.rfm import NO_PURCHASES, SEGMENT_GRID, score_profiles
from cdp.segments.rfm_cut_points import rfm_cut_points

AS_OF = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
DAY = timedelta(days=1)
ProfileRow = tuple[str, timedelta | None, timedelta | None, int, float]


def _profiles(rows: Sequence[ProfileRow], last_cancelled: timedelta | None = None) -> pa.Table:
    """(profile id, first seen ago, last order ago or None, orders, revenue) per profile; each last cancelled
    `last_cancelled` ago (None: never)."""
    return pa.table(
        {
            "last_cancelled_at": pa.array([AS_OF - last_cancelled if last_cancelled else None] * len(rows)),
            "profile_id": [row[0] for row in rows],
            "first_seen_at": [AS_OF - row[1] if row[1] is not None else None for row in rows],
            "last_order_at": [AS_OF - row[2] if row[2] is not None else None for row in rows],
            "orders_count": [row[3] for row in rows],
            "revenue": [row[4] for row in rows],
        }
    )


def _scores(table: pa.Table, column: str) -> dict[str, object]:
    scored = score_profiles(table, AS_OF)
    return dict(zip(scored["profile_id"].to_pylist(), scored[column].to_pylist()))


# ---------------------------------------------------------------- quintiles


def test_ten_distinct_buyers_fill_each_quintile_twice_and_the_most_recent_score_r5() -> None:
    # Given: buyer i ordered i+1 days ago, i+1 times, spending 10*i
    table = _profiles([(f"p{i}", 400 * DAY, (i + 1) * DAY, i + 1, 10.0 * i) for i in range(10)])
    # When
    scored = score_profiles(table, AS_OF)
    # Then
    assert scored["recency_days"].to_pylist() == list(range(1, 11))
    assert scored["r_score"].to_pylist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scored["f_score"].to_pylist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert scored["m_score"].to_pylist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_a_count_of_buyers_not_divisible_by_five_scores_the_fifth_that_ranks_below() -> None:
    # Given: seven buyers with 1..7 orders
    table = _profiles([(f"p{i}", 400 * DAY, DAY, i, 10.0) for i in range(1, 8)])
    # When
    f_scores = _scores(table, "f_score")
    # Then: 1 + floor(5 * (rank - 1) / 7)
    assert list(f_scores.values()) == [1, 1, 2, 3, 3, 4, 5]


def test_scores_are_the_rank_formula_on_many_ties_and_a_buyer_without_revenue() -> None:
    # Given: buyers of all sizes with few distinct values, one of them with no known revenue
    rng = random.Random(11)
    for size in (1, 2, 3, 4, 6, 9, 10, 37, 250):
        rows: list[ProfileRow] = [(f"p{i}", 400 * DAY, rng.choice((0, 1, 1, 5, 30)) * DAY, rng.choice((1, 1, 2, 7)),
                                   rng.choice((-5.0, 0.0, 10.0, 10.0, 99.5))) for i in range(size)]  # fmt: skip
        table = _profiles(rows)
        table = table.set_column(5, "revenue", pa.array([None, *table["revenue"].to_pylist()[1:]], pa.float64()))
        # When
        scored = score_profiles(table, AS_OF).to_pylist()
        # Then: 1 + floor(5 * (rank - 1) / buyers), rank as SQL RANK (worst first), a missing value unscored
        recency = [row["recency_days"] for row in scored]
        revenue = [None if value is None else max(value, 0.0) for value in table["revenue"].to_pylist()]
        for name, values, worse in (("r_score", recency, lambda a, b: a > b),
                                    ("f_score", [row[3] for row in rows], lambda a, b: a < b),
                                    ("m_score", revenue, lambda a, b: a < b)):  # fmt: skip
            expected = [None if value is None else 1 + 5 * sum(other is not None and worse(other, value)
                                                                for other in values) // size for value in values]
            assert [row[name] for row in scored] == expected, (name, size)


def test_equal_values_share_the_lowest_score_whatever_the_row_order_or_profile_ids() -> None:
    # Given: six one-time buyers and four repeat buyers, in two row orders with ids that sort the other way
    orders = [1, 1, 1, 1, 1, 1, 2, 3, 4, 5]
    rows = [(f"p{i}", 400 * DAY, DAY, count, 10.0 * count) for i, count in enumerate(orders)]
    renamed: list[ProfileRow] = [(f"z{9 - i}", *row[1:]) for i, row in enumerate(rows)]
    # When
    f_scores = _scores(_profiles(rows), "f_score")
    f_scores_reversed = _scores(_profiles(list(reversed(renamed))), "f_score")
    # Then: the ones share rank 1; a 2 ranks 7th, so 1 + floor(5 * 6 / 10) = 4
    assert [f_scores[f"p{i}"] for i in range(10)] == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    assert [f_scores_reversed[f"z{9 - i}"] for i in range(10)] == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]


def test_buyers_who_gave_back_more_than_they_bought_tie_with_those_who_kept_nothing_on_m() -> None:
    # Given: ten buyers, two of them with a negative net revenue (refunds beyond their sales), one with none
    revenues = [-500.0, -0.01, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    table = _profiles([(f"p{i}", 400 * DAY, DAY, 1, revenue) for i, revenue in enumerate(revenues)])
    # When
    m_scores = _scores(table, "m_score")
    # Then: M ranks net revenue floored at zero, so the three share rank 1 whatever the size of the refund
    assert list(m_scores.values()) == [1, 1, 1, 2, 3, 3, 4, 4, 5, 5]
    # and the run's cut points score each alone, as live segments do (unfloored), as the run did
    cuts = rfm_cut_points(table, score_profiles(table, AS_OF), AS_OF)
    assert [cuts.score("revenue", revenue) for revenue in revenues] == list(m_scores.values())


def test_orders_on_the_same_day_tie_on_recency() -> None:
    # Given: two buyers who ordered 3 and 20 hours ago, one a week ago
    table = _profiles(
        [
            ("morning", 400 * DAY, timedelta(hours=20), 1, 10.0),
            ("evening", 400 * DAY, timedelta(hours=3), 1, 10.0),
            ("last week", 400 * DAY, 7 * DAY, 1, 10.0),
        ]
    )
    # When
    r_scores, recency = _scores(table, "r_score"), _scores(table, "recency_days")
    # Then
    assert recency == {"morning": 0, "evening": 0, "last week": 7}
    assert r_scores == {"morning": 2, "evening": 2, "last week": 1}


def test_profiles_without_orders_get_no_scores_and_do_not_move_the_buyers_quintiles() -> None:
    # Given: five buyers, then the same five with two profiles that never ordered
    buyers: list[ProfileRow] = [(f"p{i}", 400 * DAY, (5 - i) * DAY, i, 10.0 * i) for i in range(1, 6)]
    never_ordered: list[ProfileRow] = [
        ("signed up", 400 * DAY, None, 0, 0.0),
        ("counted, no date", 400 * DAY, None, 2, 0.0),
    ]
    # When
    alone = score_profiles(_profiles(buyers), AS_OF).to_pylist()
    mixed = score_profiles(_profiles(buyers + never_ordered), AS_OF).to_pylist()
    # Then
    assert mixed[:5] == alone
    for row in mixed[5:]:
        assert (row["recency_days"], row["r_score"], row["f_score"], row["m_score"]) == (None, None, None, None)
        assert (row["rfm_segment"], row["lifecycle_stage"]) == (NO_PURCHASES, "prospect")


def test_a_table_without_buyers_or_rows_scores_without_error() -> None:
    # Given
    nobody = _profiles([])
    no_buyers = _profiles([("a", DAY, None, 0, 0.0)])
    # When / Then
    assert score_profiles(nobody, AS_OF).num_rows == 0
    assert score_profiles(no_buyers, AS_OF).to_pylist()[0]["rfm_segment"] == NO_PURCHASES


# ---------------------------------------------------------------- the grid


EXPECTED_GRID = {  # R score: segments for F 1..5, as the module docstring publishes them
    5: ["New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"],
    4: ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Loyal Customers"],
    3: ["About To Sleep", "About To Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"],
    2: ["Hibernating", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"],
    1: ["Lost", "Lost", "At Risk", "At Risk", "Cannot Lose Them"],
}


def test_the_grid_names_all_25_score_pairs_with_the_11_segments() -> None:
    # Given / When / Then
    assert {(r, f): EXPECTED_GRID[r][f - 1] for r in range(1, 6) for f in range(1, 6)} == SEGMENT_GRID
    assert len(set(SEGMENT_GRID.values())) == 11


def test_scored_buyers_are_named_by_their_r_and_f_scores() -> None:
    # Given: 25 buyers, five per recency (ties) and five per order count, so every (R, F) pair occurs once
    rows = [
        (f"r{recency}f{frequency}", 400 * DAY, (100 - 10 * recency) * DAY, frequency, 10.0)
        for recency in range(1, 6)
        for frequency in range(1, 6)
    ]
    # When
    scored = score_profiles(_profiles(rows), AS_OF).to_pylist()
    # Then
    assert [(row["r_score"], row["f_score"]) for row in scored] == [(r, f) for r in range(1, 6) for f in range(1, 6)]
    assert [row["rfm_segment"] for row in scored] == [EXPECTED_GRID[r][f - 1] for r in range(1, 6) for f in range(1, 6)]


# ---------------------------------------------------------------- lifecycle stages


@pytest.mark.parametrize(
    ("first_seen", "last_order", "orders", "stage", "last_cancelled"),
    [
        pytest.param(30 * DAY + timedelta(hours=23), None, 0, "new", None, id="no order, first seen 30 whole days ago"),
        pytest.param(31 * DAY, None, 0, "prospect", None, id="no order, first seen 31 days ago"),
        pytest.param(None, None, 0, "prospect", None, id="no order, first seen unknown"),
        pytest.param(30 * DAY, 2 * DAY, 1, "new", None, id="one order, first seen 30 days ago"),
        pytest.param(30 * DAY, 2 * DAY, 2, "active", None, id="two orders, first seen 30 days ago"),
        pytest.param(31 * DAY, 2 * DAY, 1, "active", None, id="one order, first seen 31 days ago"),
        pytest.param(400 * DAY, 90 * DAY + timedelta(hours=23), 3, "active", None, id="last order 90 whole days ago"),
        pytest.param(400 * DAY, 91 * DAY, 3, "dormant", None, id="last order 91 days ago"),
        pytest.param(400 * DAY, 365 * DAY, 3, "dormant", None, id="last order 365 days ago"),
        pytest.param(800 * DAY, 366 * DAY, 3, "churned", None, id="last order 366 days ago"),
        pytest.param(400 * DAY, -timedelta(hours=2), 3, "active", None, id="order stamped after as_of"),
        pytest.param(10 * DAY, None, 0, "active", 10 * DAY, id="only a cancellation, 10 days ago"),
        pytest.param(400 * DAY, None, 0, "dormant", 200 * DAY, id="only cancellations, the last 200 days ago"),
        pytest.param(5000 * DAY, None, 0, "churned", 5000 * DAY, id="only a cancellation, years ago"),
        pytest.param(10 * DAY, 10 * DAY, 1, "new", 9 * DAY, id="one order and a line of it cancelled"),
        pytest.param(400 * DAY, 300 * DAY, 2, "dormant", 2 * DAY, id="a cancellation is not an order"),
    ],
)
def test_lifecycle_stage_boundaries(
    first_seen: timedelta | None,
    last_order: timedelta | None,
    orders: int,
    stage: str,
    last_cancelled: timedelta | None,
) -> None:
    # Given
    table = _profiles([("p", first_seen, last_order, orders, 10.0 * orders)], last_cancelled)
    # When
    scored = score_profiles(table, AS_OF).to_pylist()[0]
    # Then: the run's column and the live segments' stage of the same profile item at the same time agree
    assert scored["lifecycle_stage"] == stage
    assert (scored["recency_days"] is None) == (last_order is None)
    item = {"profile_id": "p", "orders_count": orders, "revenue": 10 * orders,
            **{name: (AS_OF - ago).isoformat() for name, ago in (("signed_up_at", first_seen), ("last_order_at", last_order),
                                                                 ("last_cancelled_at", last_cancelled)) if ago is not None}}  # fmt: skip
    assert profile_fields(item, AS_OF, None)["lifecycle_stage"] == stage


@pytest.mark.parametrize(
    ("first_seen", "activity", "changes_in"),
    [
        pytest.param(10 * DAY, None, 21 * DAY, id="new for 31 days from first seen"),
        pytest.param(400 * DAY, 89 * DAY, 2 * DAY, id="active until 91 days after the last order"),
        pytest.param(400 * DAY, 200 * DAY, 166 * DAY, id="dormant until 366 days after it"),
        pytest.param(900 * DAY, 400 * DAY, None, id="churned for good"),
    ],
)
def test_the_clock_changes_a_stage_at_the_next_whole_day_threshold(
    first_seen: timedelta, activity: timedelta | None, changes_in: timedelta | None
) -> None:
    at = next_stage_change(AS_OF - first_seen, AS_OF - activity if activity else None, AS_OF)
    assert at == (AS_OF + changes_in if changes_in else None)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param({"new_within_days": 30, "active_within_days": 90}, "exactly the keys", id="missing"),
        pytest.param({"new_within_days": 0, "active_within_days": 90, "dormant_within_days": 365}, "new_within_days",
                     id="zero"),  # fmt: skip
        pytest.param({"new_within_days": 30, "active_within_days": "90", "dormant_within_days": 365},
                     "active_within_days", id="text"),  # fmt: skip
        pytest.param({"new_within_days": 30, "active_within_days": 400, "dormant_within_days": 365}, "below",
                     id="out of order"),  # fmt: skip
    ],
)
def test_lifecycle_thresholds_are_data_refused_with_the_name_of_what_is_wrong(
    tmp_path: Path, document: dict[str, object], message: str
) -> None:
    path = tmp_path / "lifecycle_thresholds.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=message):
        load_thresholds(path)
    assert load_thresholds() == (30, 90, 365)  # the shipped file
