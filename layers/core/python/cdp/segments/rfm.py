"""RFM scores, RFM segments and lifecycle stages, as pyarrow column work over one table of profiles.

Scores. Only buyers (a last order and at least one order) are scored. R, F and M are quintiles of the buyers by
rank: score = 1 + floor(5 * (rank - 1) / buyers), where rank is SQL RANK() (1-based; equal values share the lowest
rank). A score is thus the fifth of buyers that ranks strictly below: equal values always get equal scores, whatever
the row order or profile ids (half of a shop's buyers may have exactly one order; they all score F 1). Recency is
whole days since the last order, ranked longest-ago first, so the most recent buyers score R 5. M ranks monetary
value: net revenue (sales less cancellations and returns) floored at zero, since a buyer who gave back more than they
bought kept nothing with the shop and ties with those who kept nothing (M 1), whatever the size of the refund.

Segments. R and F name the segment (M is stored as a score, it renames nothing), on the R x F grid widely used with
RFM quintiles (the "RFM segmentation grid": `[1-2][1-2]` Hibernating, `[1-2][3-4]` At Risk, `[1-2]5` Cannot Lose
Them, `3[1-2]` About To Sleep, `33` Need Attention, `[3-4][4-5]` Loyal Customers, `41` Promising, `51` New
Customers, `[4-5][2-3]` Potential Loyalists, `5[4-5]` Champions), with its Hibernating corner split so that R 1 is
Lost, the eleventh segment:

    R \\ F  1               2                    3                    4                5
    5      New Customers   Potential Loyalists  Potential Loyalists  Champions        Champions
    4      Promising       Potential Loyalists  Potential Loyalists  Loyal Customers  Loyal Customers
    3      About To Sleep  About To Sleep       Need Attention       Loyal Customers  Loyal Customers
    2      Hibernating     Hibernating          At Risk              At Risk          Cannot Lose Them
    1      Lost            Lost                 At Risk              At Risk          Cannot Lose Them

Each measure is scored against its four quintile cut points (cdp.segments.cut_points), which give every buyer the
score the ranks above would: those of these profiles, found by selection rather than by ranking every buyer, or, for
a run split into shards, the whole population's.

A profile that never ordered has no scores and the segment "No Purchases Yet".

Lifecycle stage (`lifecycle_stage`): the rules and thresholds of cdp.segments.lifecycle, column-wise, from the
profile's first seen, last order, last cancellation and orders count.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.segments.cut_points import quintile_positions
from cdp.segments.lifecycle import ACTIVE_WITHIN_DAYS, DORMANT_WITHIN_DAYS, NEW_WITHIN_DAYS
from cdp.segments.live_ports import RfmCutPoints
from cdp.segments.ports import PROFILE_SCHEMA

OPTIONAL_COLUMNS = ("last_cancelled_at",)

NO_PURCHASES = "No Purchases Yet"
MICROSECONDS_PER_DAY = 86_400_000_000

_GRID_ROWS: dict[int, tuple[str, str, str, str, str]] = {  # R score: the segments for F scores 1..5
    5: ("New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Loyal Customers"),
    3: ("About To Sleep", "About To Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"),
    1: ("Lost", "Lost", "At Risk", "At Risk", "Cannot Lose Them"),
}
SEGMENT_GRID: dict[tuple[int, int], str] = {
    (r_score, f_score): name for r_score, names in _GRID_ROWS.items() for f_score, name in enumerate(names, start=1)
}


def _whole_days_since(moments: pa.ChunkedArray, as_of: datetime) -> pa.ChunkedArray:
    """Whole days from each moment to `as_of`; 0 for a moment after it (clock skew); null stays null."""
    elapsed = pc.cast(pc.subtract(pa.scalar(as_of, moments.type), moments), pa.int64())
    return pc.max_element_wise(pc.divide(elapsed, MICROSECONDS_PER_DAY), 0, skip_nulls=False)


def monetary(revenue: pa.ChunkedArray) -> pa.ChunkedArray:
    """What M ranks: net revenue floored at zero (null stays null)."""
    return pc.max_element_wise(revenue, pa.scalar(0.0, revenue.type), skip_nulls=False)


def _only_buyers(values: pa.ChunkedArray, is_buyer: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(is_buyer, values, pa.scalar(None, values.type))


def quintile_thresholds(values: pa.ChunkedArray, order: str, buyers: int) -> tuple[float | None, ...]:
    """For scores 2..5, the value to beat (cdp.segments.cut_points) to score 1 + floor(5 * (rank - 1) / buyers),
    rank as SQL RANK() in `order` (worst first) with missing values ranked last: the value at that position of the
    known values sorted worst first; None: every buyer reaches the score, an infinity: none does (the position falls
    among the missing values). The positions are found by selection (numpy's introselect, linear time), not a sort."""
    known = values.filter(pc.is_valid(values)).to_numpy()
    positions = quintile_positions(buyers)
    from_smallest = {position: position if order == "ascending" else len(known) - 1 - position
                     for position in positions if position is not None and position < len(known)}  # fmt: skip
    selected = np.partition(known, sorted(set(from_smallest.values()))) if from_smallest else known
    unreachable = math.inf if order == "ascending" else -math.inf
    return tuple(None if position is None else float(selected[from_smallest[position]]) if position in from_smallest
                 else unreachable for position in positions)  # fmt: skip


def _scores_beating(values: pa.ChunkedArray, thresholds: tuple[float | None, ...], better: str) -> pa.ChunkedArray:
    """1 + the thresholds each value beats (`better`: "greater" or "less"); a missing threshold every value beats;
    nulls (non-buyers) stay null: the ranked score (`quintile_thresholds`) against the population the thresholds cut."""
    scores = pc.if_else(pc.is_valid(values), pa.scalar(1, pa.int64()), pa.scalar(None, pa.int64()))
    numbers = pc.cast(values, pa.float64())
    for threshold in thresholds:
        beats = pa.scalar(True) if threshold is None else getattr(pc, better)(numbers, threshold)
        scores = pc.add(scores, pc.cast(beats, pa.int64()))
    return scores


def _segment_names(r_scores: pa.ChunkedArray, f_scores: pa.ChunkedArray) -> pa.ChunkedArray:
    """The grid's name for each (R, F) pair; NO_PURCHASES where there are no scores."""
    grid_keys = pa.array([r_score * 10 + f_score for r_score, f_score in SEGMENT_GRID], pa.int64())
    positions = pc.index_in(pc.add(pc.multiply(r_scores, 10), f_scores), value_set=grid_keys)
    return pc.coalesce(pc.take(pa.array(list(SEGMENT_GRID.values())), positions), pa.scalar(NO_PURCHASES))


def _lifecycle_stages(
    first_seen_days: pa.ChunkedArray, activity_days: pa.ChunkedArray, orders_count: pa.ChunkedArray
) -> pa.ChunkedArray:
    """new, prospect, active, dormant or churned (cdp.segments.lifecycle.stage), first matching rule wins;
    `activity_days` is whole days since the last order activity (null: none)."""
    no_activity = pc.is_null(activity_days)
    only_cancelled = pc.and_(pc.invert(no_activity), pc.equal(orders_count, 0))
    is_new = pc.and_(
        pc.and_(pc.less_equal(first_seen_days, NEW_WITHIN_DAYS), pc.less_equal(orders_count, 1)),
        pc.invert(only_cancelled),
    )
    rules = pc.make_struct(
        pc.fill_null(is_new, False),
        no_activity,
        pc.less_equal(activity_days, ACTIVE_WITHIN_DAYS),
        pc.less_equal(activity_days, DORMANT_WITHIN_DAYS),
    )
    return pc.case_when(rules, "new", "prospect", "active", "dormant", "churned")


def score_profiles(profiles: pa.Table, as_of: datetime, cut_points: RfmCutPoints | None = None) -> pa.Table:
    """profile_id, recency_days, r_score, f_score, m_score, rfm_segment and lifecycle_stage of every profile.

    `profiles` has PROFILE_SCHEMA's columns (`last_cancelled_at` may be absent: a shop without cancellations);
    `as_of` must be timezone-aware. Scores and recency are null for profiles that never ordered. With `cut_points`
    (a shard of a larger population) R, F and M are scored against them instead of ranked among these profiles.
    """
    for name in OPTIONAL_COLUMNS:
        if name not in profiles.column_names:
            field = PROFILE_SCHEMA.field(name)
            profiles = profiles.append_column(field, pa.nulls(profiles.num_rows, field.type))
    profiles = profiles.select(PROFILE_SCHEMA.names).cast(PROFILE_SCHEMA)
    is_buyer = pc.fill_null(
        pc.and_(pc.is_valid(profiles["last_order_at"]), pc.greater(profiles["orders_count"], 0)), False
    )
    buyers = pc.sum(is_buyer).as_py() or 0
    recency_days = _only_buyers(_whole_days_since(profiles["last_order_at"], as_of), is_buyer)
    orders_count = _only_buyers(profiles["orders_count"], is_buyer)
    revenue = _only_buyers(monetary(profiles["revenue"]), is_buyer)
    if cut_points is None:  # ranked among these buyers: scored against their own cut points
        cut_points = RfmCutPoints(quintile_thresholds(recency_days, "descending", buyers),
                                  quintile_thresholds(orders_count, "ascending", buyers),
                                  quintile_thresholds(revenue, "ascending", buyers), as_of.isoformat())  # fmt: skip
    r_scores = _scores_beating(recency_days, cut_points.recency_days, "less")
    f_scores = _scores_beating(orders_count, cut_points.orders_count, "greater")
    m_scores = _scores_beating(revenue, cut_points.revenue, "greater")
    first_seen_days = _whole_days_since(profiles["first_seen_at"], as_of)
    activity_days = pc.coalesce(recency_days, _whole_days_since(profiles["last_cancelled_at"], as_of))
    return pa.table(
        {
            "profile_id": profiles["profile_id"],
            "recency_days": recency_days,
            "r_score": r_scores,
            "f_score": f_scores,
            "m_score": m_scores,
            "rfm_segment": _segment_names(r_scores, f_scores),
            "lifecycle_stage": _lifecycle_stages(first_seen_days, activity_days, profiles["orders_count"]),
        }
    )
