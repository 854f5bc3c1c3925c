"""The evaluator against a straightforward row-by-row computation of the same segments on a small generated base
(the segments bench's data and definitions): RFM quintiles by rank, lifecycle stages, event and order windows."""

from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cdp.segments.evaluate import evaluate
from cdp.segments.lifecycle import stage, whole_days_since
from cdp_local.bench_segments import AS_OF, bench_document, generate
from cdp_local.bench_segments_pandas import RFM_GRID

DAY = timedelta(days=1)


def _within(moment: datetime | None, length: timedelta) -> bool:
    return moment is not None and AS_OF - length <= moment <= AS_OF


def _quintiles(values: dict[str, int], better_is_lower: bool) -> dict[str, int]:
    """1 + floor(5 * (rank - 1) / n), rank as SQL RANK(): 1 + how many values rank strictly before."""
    ordered = sorted(values.values())
    count = len(ordered)
    scores = {}
    for profile_id, value in values.items():
        if better_is_lower:
            before = count - bisect.bisect_right(ordered, value)
        else:
            before = bisect.bisect_left(ordered, value)
        scores[profile_id] = 1 + (5 * before) // count
    return scores


Rows = list[dict[str, Any]]


def _reference(profiles: Rows, events: Rows, lines: Rows) -> dict[str, set[str]]:
    """Each bench segment's members, computed one row at a time."""
    members: dict[str, set[str]] = defaultdict(set)
    buyers = {p["profile_id"]: p for p in profiles if p["last_order_at"] is not None and p["orders_count"] > 0}
    recency = {pid: max((AS_OF - p["last_order_at"]) // DAY, 0) for pid, p in buyers.items()}
    r_scores = _quintiles(recency, better_is_lower=True)  # the longest ago ranks first
    f_scores = _quintiles({pid: p["orders_count"] for pid, p in buyers.items()}, better_is_lower=False)
    for pid in buyers:
        for name, (r_allowed, f_allowed) in RFM_GRID.items():
            if r_scores[pid] in r_allowed and f_scores[pid] in f_allowed:
                members[name].add(pid)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in events:
        for label, length in (("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
            if _within(row["occurred_at"], length):
                counts[(row["profile_id"], f"{row['event']}:{label}")] += 1
                if row["event"] == "Product Viewed" and row["category"] == "shoes":
                    counts[(row["profile_id"], f"shoes:{label}")] += 1
    orders: dict[tuple[str, int], set[str]] = defaultdict(set)
    spent: dict[str, float] = defaultdict(float)
    for row in lines:
        if row["status"] != "completed":
            continue
        for days in (30, 90, 365):
            if _within(row["ordered_at"], days * DAY):
                orders[(row["profile_id"], days)].add(row["order_id"])
        if _within(row["ordered_at"], 30 * DAY):
            spent[row["profile_id"]] += row["line_amount"]
    for profile in profiles:
        pid, count = profile["profile_id"], profile["orders_count"]
        activity_days = recency.get(pid)  # the bench's profiles have no cancellations
        members[f"lifecycle_{stage(whole_days_since(profile['first_seen_at'], AS_OF), activity_days, count)}"].add(pid)
        added, viewed, ordered = (counts[(pid, f"{name}:24h")]
                                  for name in ("Product Added", "Product Viewed", "Order Completed"))  # fmt: skip
        if added and not ordered:
            members["cart_abandoners"].add(pid)
        if viewed and not added and not ordered:
            members["browse_abandoners"].add(pid)
        if counts[(pid, "shoes:7d")] >= 3 and not counts[(pid, "Order Completed:30d")]:
            members["shoe_browsers"].add(pid)
        if spent[pid] >= 200:
            members["recent_big_spenders"].add(pid)
        if len(orders[(pid, 365)]) >= 2 and not orders[(pid, 90)]:
            members["lapsing_repeat_buyers"].add(pid)
    return members


@pytest.mark.parametrize("ids_as", ["dictionary", "string"])
def test_the_evaluator_agrees_with_a_row_by_row_computation_on_a_generated_base(tmp_path: Path, ids_as: str) -> None:
    # Given: 3,000 generated customers with their orders and events, and events of a person not in the snapshot
    generate(str(tmp_path), "0.003")
    read_dictionary = ["profile_id"] if ids_as == "dictionary" else None
    profiles = pq.read_table(tmp_path / "profiles.parquet")
    events = pq.ParquetFile(tmp_path / "events.parquet", read_dictionary=read_dictionary).read()
    lines = pq.ParquetFile(tmp_path / "order_lines.parquet", read_dictionary=read_dictionary).read()
    stranger = events.slice(0, 5).to_pylist()
    for row in stranger:
        row["profile_id"], row["event"], row["category"] = "STRANGER", "Product Viewed", "shoes"
    events = pa.concat_tables([events, pa.Table.from_pylist(stranger, events.schema)])

    # When
    result = evaluate(bench_document(), profiles, events, lines, AS_OF)

    # Then: every segment holds exactly the members the straightforward computation finds (and not the stranger)
    expected = _reference(profiles.to_pylist(), events.to_pylist(), lines.to_pylist())
    found = {name: set(result.members(name).to_pylist()) for name in result.masks}
    assert set(found) == {*RFM_GRID, *(f"lifecycle_{s}" for s in ("new", "prospect", "active", "dormant", "churned")),
                          "cart_abandoners", "browse_abandoners", "shoe_browsers", "recent_big_spenders",
                          "lapsing_repeat_buyers"}  # fmt: skip
    assert found == {name: expected.get(name, set()) for name in found}
    assert all(found[name] for name in ("rfm_champions", "lifecycle_active", "lapsing_repeat_buyers", "shoe_browsers"))
