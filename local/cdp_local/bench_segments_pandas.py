"""The bench's segments (see bench_segments) in straightforward pandas: boolean Series, groupby counts, map by id.

Exactly the semantics of cdp.segments.rfm and of the shipped definitions (windows include both ends, a test on a
missing value is false).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

RFM_GRID = {
    "rfm_champions": ([5], [4, 5]), "rfm_loyal_customers": ([3, 4], [4, 5]),
    "rfm_potential_loyalists": ([4, 5], [2, 3]), "rfm_new_customers": ([5], [1]), "rfm_promising": ([4], [1]),
    "rfm_need_attention": ([3], [3]), "rfm_about_to_sleep": ([3], [1, 2]), "rfm_at_risk": ([1, 2], [3, 4]),
    "rfm_cannot_lose_them": ([1, 2], [5]), "rfm_hibernating": ([2], [1, 2]), "rfm_lost": ([1], [1, 2]),
}  # fmt: skip


def segments_with_pandas(folder: Path, as_of: datetime, events_since: datetime, lines_since: datetime) -> pa.Table:
    profiles = pd.read_parquet(folder / "profiles.parquet")
    events = pd.read_parquet(folder / "events.parquet", columns=["profile_id", "event", "occurred_at", "category"],
                             filters=[("occurred_at", ">=", events_since)])
    lines = pd.read_parquet(folder / "order_lines.parquet",
                            columns=["profile_id", "order_id", "ordered_at", "status", "line_amount"],
                            filters=[("ordered_at", ">=", lines_since)])  # fmt: skip
    now = pd.Timestamp(as_of)
    ids = profiles["profile_id"]

    def within(moments: pd.Series, length: pd.Timedelta) -> pd.Series:
        return (moments >= now - length) & (moments <= now)

    def per_profile(counts: pd.Series) -> pd.Series:
        return ids.map(counts).fillna(0)

    def events_in(name: str, length: pd.Timedelta, extra: pd.Series | bool = True) -> pd.Series:
        selected = events[(events["event"] == name) & within(events["occurred_at"], length) & extra]
        return per_profile(selected.groupby("profile_id", observed=True).size())

    # RFM scores of buyers (rank "min" is SQL RANK())
    last_order = profiles["last_order_at"]
    buyer = last_order.notna() & (profiles["orders_count"] > 0)
    buyers = int(buyer.sum())
    recency_days = ((now - last_order) // pd.Timedelta(days=1)).clip(lower=0)
    r = 1 + (5 * (recency_days.where(buyer).rank(method="min", ascending=False) - 1)) // buyers
    f = 1 + (5 * (profiles["orders_count"].where(buyer).rank(method="min") - 1)) // buyers

    out = pd.DataFrame({"profile_id": ids})
    for name, (r_scores, f_scores) in RFM_GRID.items():
        out[name] = r.isin(r_scores) & f.isin(f_scores)

    # lifecycle stages in whole days (cdp.segments.lifecycle; the bench's profiles have no cancellations)
    first_seen_days = ((now - profiles["first_seen_at"]) // pd.Timedelta(days=1)).clip(lower=0)
    new = (first_seen_days <= 30) & (profiles["orders_count"] <= 1)
    prospect = ~new & ~buyer
    activity_days = recency_days.where(buyer)
    active = ~new & ~prospect & (activity_days <= 90)
    out["lifecycle_new"], out["lifecycle_prospect"], out["lifecycle_active"] = new, prospect, active
    out["lifecycle_dormant"] = ~new & ~prospect & ~active & (activity_days <= 365)
    out["lifecycle_churned"] = ~new & ~prospect & (activity_days > 365)

    day = pd.Timedelta(hours=24)
    added, viewed, ordered = (events_in(name, day) for name in ("Product Added", "Product Viewed", "Order Completed"))
    out["cart_abandoners"] = (added >= 1) & ~(ordered >= 1)
    out["browse_abandoners"] = (viewed >= 1) & ~(added >= 1) & ~(ordered >= 1)
    shoes = events_in("Product Viewed", pd.Timedelta(days=7), events["category"] == "shoes")
    out["shoe_browsers"] = (shoes >= 3) & ~(events_in("Order Completed", pd.Timedelta(days=30)) >= 1)

    completed = lines[lines["status"] == "completed"]

    def orders_within(length: pd.Timedelta) -> pd.DataFrame:
        return completed[within(completed["ordered_at"], length)]

    amount_30d = per_profile(orders_within(pd.Timedelta(days=30)).groupby("profile_id")["line_amount"].sum())
    out["recent_big_spenders"] = amount_30d >= 200
    orders_365d = per_profile(orders_within(pd.Timedelta(days=365)).groupby("profile_id")["order_id"].nunique())
    orders_90d = per_profile(orders_within(pd.Timedelta(days=90)).groupby("profile_id")["order_id"].nunique())
    out["lapsing_repeat_buyers"] = (orders_365d >= 2) & ~(orders_90d >= 1)
    return pa.Table.from_pandas(out, preserve_index=False)
