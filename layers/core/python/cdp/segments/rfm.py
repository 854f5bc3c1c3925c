"""RFM scoring and lifecycle stages as pyarrow column work over one table of profiles.

Scores are quintiles by rank as SQL NTILE(5) assigns them, ties broken by profile id so runs are deterministic; recency scores 5 for
the most recent buyers. Segment names follow the widely used R x F grid (monetary refines, it does not rename):

    R\\F   1            2                3                    4                  5
    5    New Customers Potential Loyal.  Potential Loyalists  Loyal Customers    Champions
    4    Promising     Potential Loyal.  Potential Loyalists  Loyal Customers    Champions (F5) / Loyal
    3    About To Sleep About To Sleep   Need Attention       Loyal Customers    Loyal Customers
    2    Hibernating   Hibernating       At Risk              At Risk            Cannot Lose Them
    1    Lost          Lost              At Risk              At Risk            Cannot Lose Them
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

NO_PURCHASES = "No Purchases Yet"
NEW_DAYS, ACTIVE_DAYS, DORMANT_DAYS = 30, 90, 365
SECONDS_PER_DAY = 86_400

# (recency score, frequency score) -> segment
GRID: dict[tuple[int, int], str] = {
    (5, 1): "New Customers", (5, 2): "Potential Loyalists", (5, 3): "Potential Loyalists",
    (5, 4): "Loyal Customers", (5, 5): "Champions",
    (4, 1): "Promising", (4, 2): "Potential Loyalists", (4, 3): "Potential Loyalists",
    (4, 4): "Loyal Customers", (4, 5): "Champions",
    (3, 1): "About To Sleep", (3, 2): "About To Sleep", (3, 3): "Need Attention",
    (3, 4): "Loyal Customers", (3, 5): "Loyal Customers",
    (2, 1): "Hibernating", (2, 2): "Hibernating", (2, 3): "At Risk", (2, 4): "At Risk", (2, 5): "Cannot Lose Them",
    (1, 1): "Lost", (1, 2): "Lost", (1, 3): "At Risk", (1, 4): "At Risk", (1, 5): "Cannot Lose Them",
}  # fmt: skip

PROFILE_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("first_seen_at", pa.timestamp("us", tz="UTC")),
        ("last_order_at", pa.timestamp("us", tz="UTC")),
        ("orders_count", pa.int64()),
        ("revenue", pa.float64()),
    ]
)


def _quintile(values: pa.Array, tiebreak: pa.Array) -> pa.Array:
    """1..5 by rank of `values` ascending (ties ordered by `tiebreak`), nulls left null."""
    count = len(values)
    if count == 0:
        return pa.array([], pa.int64())
    order = pc.sort_indices(pa.table({"v": values, "t": tiebreak}), sort_keys=[("v", "ascending"), ("t", "ascending")])
    ranks = pc.cast(pc.sort_indices(order), pa.int64())  # the inverse permutation: each row's rank
    return pc.add(pc.divide(pc.multiply(ranks, 5), count), 1).cast(pa.int64())


def _days_since(moments: pa.Array, as_of: datetime) -> pa.Array:
    seconds = pc.divide(pc.cast(pc.subtract(pa.scalar(as_of, moments.type), moments), pa.int64()), 1_000_000)
    return pc.divide(seconds, SECONDS_PER_DAY)


def score_profiles(profiles: pa.Table, as_of: datetime) -> pa.Table:
    """profile_id, recency_days, r/f/m scores, rfm_segment and lifecycle_stage for every profile."""
    profiles = profiles.cast(PROFILE_SCHEMA)
    buyers = pc.and_(pc.is_valid(profiles["last_order_at"]), pc.greater(profiles["orders_count"], 0))
    buyers = pc.fill_null(buyers, False)
    recency_days = _days_since(profiles["last_order_at"].combine_chunks(), as_of)
    age_days = _days_since(profiles["first_seen_at"].combine_chunks(), as_of)

    scored_buyers = profiles.filter(buyers)
    ids = scored_buyers["profile_id"].combine_chunks()
    r = _quintile(pc.negate(recency_days.filter(buyers)), ids)
    f = _quintile(scored_buyers["orders_count"].combine_chunks(), ids)
    m = _quintile(scored_buyers["revenue"].combine_chunks(), ids)
    grid_keys = pc.add(pc.multiply(r, 10), f)
    names = pc.take(pa.array(list(GRID.values())), pc.index_in(grid_keys, pa.array([a * 10 + b for a, b in GRID])))

    positions = pc.cumulative_sum(pc.cast(buyers, pa.int64()))
    buyer_position = pc.if_else(buyers, pc.subtract(positions, 1), pa.scalar(None, pa.int64()))
    segment = pc.coalesce(pc.take(names, buyer_position), pa.scalar(NO_PURCHASES))

    stage = pc.case_when(
        pc.make_struct(
            pc.and_(pc.invert(buyers), pc.less_equal(age_days, NEW_DAYS)),
            pc.and_(buyers, pc.and_(pc.less_equal(age_days, NEW_DAYS), pc.less_equal(profiles["orders_count"], 1))),
            pc.invert(buyers),
            pc.less_equal(recency_days, ACTIVE_DAYS),
            pc.less_equal(recency_days, DORMANT_DAYS),
        ),
        "new", "new", "prospect", "active", "dormant", "churned",
    )  # fmt: skip
    return pa.table(
        {
            "profile_id": profiles["profile_id"],
            "recency_days": pc.if_else(buyers, recency_days, pa.scalar(None, pa.int64())),
            "r_score": pc.take(r, buyer_position),
            "f_score": pc.take(f, buyer_position),
            "m_score": pc.take(m, buyer_position),
            "rfm_segment": segment,
            "lifecycle_stage": stage,
        }
    )
