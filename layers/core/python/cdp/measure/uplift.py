"""Uplift against holdouts: per journey or campaign, and per variant, the messaged group against its holdout.

Groups are whom the journey or campaign *assigned* (`assigned` rows, by variant) and whom it held out (`holdout`
rows), each profile once per journey or campaign (its first assignment), whether or not a message then went out
(intention to treat: a skipped or failed send stays in its group, so the comparison is not biased by who could be
reached). Both groups are measured alike: a profile converted when it ordered within `uplift_window_hours` after its
assignment, and its revenue is those orders' revenue. Per group: conversion rate and revenue per recipient (zeros
included); the lift is messaged minus holdout, with the intervals of `cdp.measure.statistics`, and the sample
size still needed to tell the observed difference from none at the rules' confidence and power.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.measure.rules import MeasurementRules
from cdp.measure.statistics import (
    Interval,
    Sample,
    difference_interval,
    relative_lift_interval,
    sample_size_per_group,
    welch_interval,
)

ALL_VARIANTS = "*"


def assignments(messages: pa.Table) -> pa.Table:
    """Each profile's first assignment per journey or campaign: origin, origin_name, profile_id, group
    (`messaged` or `holdout`), variant, at."""
    rows = messages.filter(pc.is_in(messages.column("event"), pa.array(["assigned", "holdout"])))
    rows = rows.sort_by([("at", "ascending"), ("message_key", "ascending")])
    first = rows.group_by(["origin", "origin_name", "profile_id"], use_threads=False).aggregate([
        ("event", "first"), ("variant", "first"), ("at", "first"),
    ])  # fmt: skip
    group = pc.if_else(pc.equal(first.column("event_first"), "holdout"), "holdout", "messaged")
    return pa.table({
        "origin": first.column("origin"), "origin_name": first.column("origin_name"),
        "profile_id": first.column("profile_id"), "group": group,
        "variant": first.column("variant_first"), "at": first.column("at_first"),
    })  # fmt: skip


def outcomes(assigned: pa.Table, orders: pa.Table, window_hours: float) -> pa.Table:
    """`assigned` with `converted` (0/1) and `revenue` from the profile's orders within the window after `at`."""
    pairs = assigned.join(orders.select(["profile_id", "ordered_at", "revenue"]), "profile_id", join_type="inner")
    elapsed = pc.subtract(pc.cast(pairs.column("ordered_at"), pa.int64()), pc.cast(pairs.column("at"), pa.int64()))
    within = pc.and_(pc.greater(elapsed, 0), pc.less_equal(elapsed, round(window_hours * 3_600_000_000)))
    keys = ["origin", "origin_name", "profile_id"]
    spent = pairs.filter(within).group_by(keys).aggregate([("revenue", "sum"), ("ordered_at", "count")])
    joined = assigned.join(spent, keys, join_type="left outer")
    converted = pc.cast(pc.greater(pc.fill_null(joined.column("ordered_at_count"), 0), 0), pa.int64())
    revenue = pc.fill_null(joined.column("revenue_sum"), 0.0)
    return (joined.drop_columns(["revenue_sum", "ordered_at_count"])
            .append_column("revenue", revenue).append_column("converted", converted))  # fmt: skip


def _groups(measured: pa.Table) -> dict[tuple[str, str, str, str], dict[str, float]]:
    """Per (origin, origin_name, group, variant; `*` for all variants of the messaged group): n, conversions, the
    sum and the sum of squares of revenue."""
    squared = measured.append_column("revenue_squared", pc.multiply(measured.column("revenue"), measured.column("revenue")))
    aggregates = [("profile_id", "count"), ("converted", "sum"), ("revenue", "sum"), ("revenue_squared", "sum")]
    totals: dict[tuple[str, str, str, str], dict[str, float]] = {}
    for keys, variant_of in ((["origin", "origin_name", "group", "variant"], None), (["origin", "origin_name", "group"], ALL_VARIANTS)):
        for row in squared.group_by(keys).aggregate(aggregates).to_pylist():
            variant = variant_of or row["variant"]
            if row["group"] == "holdout" and variant != ALL_VARIANTS:
                continue
            totals[(row["origin"], row["origin_name"], row["group"], variant)] = {
                "n": row["profile_id_count"], "conversions": row["converted_sum"],
                "revenue": row["revenue_sum"], "revenue_squares": row["revenue_squared_sum"],
            }  # fmt: skip
    return totals


def _interval(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [round(interval.low, 6), round(interval.high, 6)]


def compare(messaged: dict[str, float], holdout: dict[str, float], rules: MeasurementRules) -> dict[str, Any]:
    """The messaged group against the holdout: rates, lifts, intervals, significance and the sample still needed."""
    n1, x1, n2, x2 = int(messaged["n"]), int(messaged["conversions"]), int(holdout["n"]), int(holdout["conversions"])
    p1, p2 = x1 / n1, x2 / n2
    treated = Sample.of(n1, messaged["revenue"], messaged["revenue_squares"])
    control = Sample.of(n2, holdout["revenue"], holdout["revenue_squares"])
    absolute = difference_interval(x1, n1, x2, n2, rules.confidence)
    revenue = welch_interval(treated, control, rules.confidence)
    needed = sample_size_per_group(p1, p2, n1 / n2, rules.confidence, rules.power)
    significant = absolute.excludes_zero()
    if needed is None:
        verdict = "no difference observed yet"
        more = None
    else:
        more = max(0, needed[0] - n1) + max(0, needed[1] - n2)
        verdict = ("significant" if significant else
                   f"not yet significant: need about {more:,} more recipients at this split to detect this lift")  # fmt: skip
    return {
        "messaged": {"recipients": n1, "conversions": x1, "conversion_rate": round(p1, 6),
                     "revenue": round(treated.mean * n1, 2), "revenue_per_recipient": round(treated.mean, 4)},
        "holdout": {"recipients": n2, "conversions": x2, "conversion_rate": round(p2, 6),
                    "revenue": round(control.mean * n2, 2), "revenue_per_recipient": round(control.mean, 4)},
        "absolute_lift": round(p1 - p2, 6),
        "absolute_lift_interval": _interval(absolute),
        "relative_lift": round(p1 / p2 - 1, 6) if p2 > 0 else None,
        "relative_lift_interval": _interval(relative_lift_interval(x1, n1, x2, n2, rules.confidence)),
        "revenue_per_recipient_lift": round(treated.mean - control.mean, 4),
        "revenue_per_recipient_lift_interval": _interval(revenue),
        "significant": significant,
        "sample_size_needed": None if needed is None else {"messaged": needed[0], "holdout": needed[1]},
        "more_recipients_needed": more,
        "verdict": verdict,
    }  # fmt: skip


def uplift(messages: pa.Table, orders: pa.Table, rules: MeasurementRules) -> list[dict[str, Any]]:
    """One entry per journey or campaign and variant (`*`: all variants together) that has a holdout."""
    groups = _groups(outcomes(assignments(messages), orders, rules.uplift_window_hours))
    results = []
    for (origin, origin_name, group, variant), messaged in sorted(groups.items()):
        holdout = groups.get((origin, origin_name, "holdout", ALL_VARIANTS))
        if group != "messaged" or holdout is None or not messaged["n"] or not holdout["n"]:
            continue
        results.append({"origin": origin, "origin_name": origin_name, "variant": variant,
                        **compare(messaged, holdout, rules)})  # fmt: skip
    return results
