"""Who is in each segment: its size over time and what its members look like, column-wise over the memberships.

Per segment: `size`, `size_history` (the earlier runs' sizes from their snapshots, then this run's), `revenue_share`
(the members' net revenue over all profiled customers'), `average_order_value` (members' revenue over their
orders), `mean_clv_12m` (over members with a prediction), `top_categories` (of the members' completed order lines
in the last 365 days, by lines) and `top_regions` (country, or region code where no country, by members), and
`consent_rates` per channel (members whose current marketing consent on that channel is granted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

TOP = 3
CATEGORY_WINDOW = timedelta(days=365)
CHANNELS = ("email", "sms", "push")
DIGITS = 4


def _column(profiles: pa.Table, name: str, arrow_type: pa.DataType) -> pa.ChunkedArray:
    if name in profiles.column_names:
        return pc.cast(profiles[name], arrow_type)
    return pa.chunked_array([pa.nulls(profiles.num_rows, arrow_type)])


def _rounded(value: Any) -> Any:
    return round(value, DIGITS) if isinstance(value, float) else value


@dataclass(frozen=True)
class PersonaFacts:
    """Sums and counts per segment over some profiles: facts of disjoint sets of profiles (a run's shards) add up
    to those of their union, so a sharded run's personas are the single run's.

    `totals`: segment, members, revenue, orders_count, clv_sum, clv_count and `<channel>_consent` (members granted);
    `categories`: segment, category, count_all; `regions`: segment, region, count_all; `revenue`: all profiles'."""

    totals: pa.Table
    categories: pa.Table
    regions: pa.Table
    revenue: float


def persona_facts(memberships: pa.Table, profiles: pa.Table, orders: pa.Table, as_of: datetime) -> PersonaFacts:
    """The facts of `profiles` and their memberships and order lines."""
    facts = pa.table({
        "profile_id": profiles["profile_id"],
        "revenue": pc.fill_null(_column(profiles, "revenue", pa.float64()), 0.0),
        "orders_count": pc.fill_null(_column(profiles, "orders_count", pa.int64()), 0),
        "clv": _column(profiles, "clv_12m", pa.float64()),
        "clv_known": pc.cast(pc.is_valid(_column(profiles, "clv_12m", pa.float64())), pa.int64()),
        "region": pc.coalesce(_column(profiles, "country", pa.string()), _column(profiles, "region_code", pa.string())),
        **{f"{channel}_consent": pc.cast(pc.fill_null(_column(profiles, f"{channel}_consent", pa.bool_()), False),
                                         pa.int64()) for channel in CHANNELS},
    })  # fmt: skip
    joined = memberships.join(facts, "profile_id", join_type="inner")
    totals = joined.group_by("segment").aggregate([
        ([], "count_all"), ("revenue", "sum"), ("orders_count", "sum"), ("clv", "sum"), ("clv_known", "sum"),
        *((f"{channel}_consent", "sum") for channel in CHANNELS),
    ])  # fmt: skip
    totals = totals.rename_columns({"count_all": "members", "revenue_sum": "revenue", "orders_count_sum": "orders_count",
                                    "clv_known_sum": "clv_count"} | {f"{channel}_consent_sum": f"{channel}_consent"
                                                                     for channel in CHANNELS})  # fmt: skip
    regions = joined.filter(pc.is_valid(joined["region"])).group_by(["segment", "region"]).aggregate([([], "count_all")])
    return PersonaFacts(totals=totals, categories=_category_counts(memberships, orders, as_of), regions=regions,
                        revenue=pc.sum(facts["revenue"]).as_py() or 0.0)  # fmt: skip


def merged_facts(parts: list[PersonaFacts]) -> PersonaFacts:
    """The facts of the union of the disjoint profile sets `parts` describe."""
    def summed(tables: list[pa.Table], keys: list[str]) -> pa.Table:
        table = pa.concat_tables(tables, promote_options="permissive")
        values = [name for name in table.column_names if name not in keys]
        summed_table = table.group_by(keys).aggregate([(name, "sum") for name in values])
        return summed_table.rename_columns({f"{name}_sum": name for name in values})

    return PersonaFacts(
        totals=summed([part.totals for part in parts], ["segment"]),
        categories=summed([part.categories for part in parts], ["segment", "category"]),
        regions=summed([part.regions for part in parts], ["segment", "region"]),
        revenue=sum(part.revenue for part in parts),
    )


def personas(
    facts: PersonaFacts, history: list[dict[str, Any]], sizes: dict[str, int], as_of: datetime
) -> dict[str, dict[str, Any]]:
    """The persona of every segment in `sizes` (see the module docstring)."""
    categories, regions = _top(facts.categories, "category"), _top(facts.regions, "region")
    result: dict[str, dict[str, Any]] = {}
    for row in facts.totals.to_pylist():
        segment, members = row["segment"], row["members"]
        revenue, orders_count = row["revenue"] or 0.0, row["orders_count"] or 0
        result[segment] = {
            "size": sizes.get(segment, 0),
            "size_history": [{"computed_at": run["computed_at"], "size": run["sizes"].get(segment, 0)}
                             for run in history] + [{"computed_at": as_of.isoformat(), "size": sizes.get(segment, 0)}],
            "revenue_share": _rounded(revenue / facts.revenue) if facts.revenue else 0.0,
            "average_order_value": _rounded(revenue / orders_count) if orders_count else None,
            "mean_clv_12m": _rounded(row["clv_sum"] / row["clv_count"]) if row["clv_count"] else None,
            "top_categories": categories.get(segment, []),
            "top_regions": regions.get(segment, []),
            "consent_rates": {channel: _rounded(row[f"{channel}_consent"] / members) for channel in CHANNELS},
        }  # fmt: skip
    return dict(sorted(result.items()))


def _category_counts(memberships: pa.Table, orders: pa.Table, as_of: datetime) -> pa.Table:
    """(segment, category, count_all): members' completed order lines of the last year per category."""
    if orders.num_rows == 0 or "category" not in orders.column_names:
        return pa.table({"segment": pa.array([], pa.string()), "category": pa.array([], pa.string()),
                         "count_all": pa.array([], pa.int64())})  # fmt: skip
    start = pa.scalar(as_of - CATEGORY_WINDOW, orders.schema.field("ordered_at").type)
    recent = orders.filter(pc.and_(pc.fill_null(pc.equal(orders["status"], "completed"), False),
                                   pc.greater_equal(orders["ordered_at"], start)))  # fmt: skip
    lines = pa.table({"profile_id": recent["profile_id"], "category": pc.cast(recent["category"], pa.string())})
    lines = lines.filter(pc.is_valid(lines["category"]))
    return lines.join(memberships, "profile_id", join_type="inner").group_by(["segment", "category"]).aggregate(
        [([], "count_all")])


def _top(counts: pa.Table, name: str) -> dict[str, list[str]]:
    """The TOP values of `name` per segment by count (ties: alphabetical)."""
    ranked = counts.sort_by([("segment", "ascending"), ("count_all", "descending"), (name, "ascending")])
    top: dict[str, list[str]] = {}
    for segment, value in zip(ranked["segment"].to_pylist(), ranked[name].to_pylist()):
        values = top.setdefault(segment, [])
        if len(values) < TOP:
            values.append(value)
    return top
