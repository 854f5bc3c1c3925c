"""Marketing KPIs from messages, attributed orders, customers, feedback and segment snapshots (pyarrow compute).

Rates count distinct messages (message keys): delivery = delivered / sent; open, click, unsubscribe, complaint and
conversion = each / delivered (conversion: messages with at least one attributed order). ROI = (attributed revenue -
cost) / cost, cost = messages sent x the channel's price + coupons redeemed on attributed orders (their discount; when
the export carries none, what the code's offer takes off that order, or the rules' `coupon_cost` for a code no offer
gave). Repurchase rate: of the profiles who
ordered, the share who ordered again. Retention: of a monthly signup cohort, the share who ordered in each month since
signing up (month 0 = the signup month). Win-back: of the profiles in the dormant segment at a run, the share who
ordered after it. NPS = % promoters (9-10) - % detractors (0-6) of NPS answers; CSAT = % of CSAT answers of 4 or 5.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.coupons.offers import OfferCatalogue
from cdp.measure.rules import MeasurementRules

FUNNEL_EVENTS = ("assigned", "holdout", "sent", "skipped", "deferred", "failed", "delivered", "opened", "clicked",
                 "bounced", "complained", "rejected", "unsubscribed")  # fmt: skip
NO_SEGMENT = "(none)"


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def funnel(counts: dict[str, int], conversions: int, revenue: float) -> dict[str, Any]:
    """Counts of distinct messages per event, the rates, conversions and attributed revenue."""
    sent, delivered = counts.get("sent", 0), counts.get("delivered", 0)
    return {
        "counts": {event: counts.get(event, 0) for event in FUNNEL_EVENTS},
        "conversions": conversions,
        "revenue": round(revenue, 2),
        "rates": {
            "delivery": _ratio(delivered, sent),
            "open": _ratio(counts.get("opened", 0), delivered),
            "click": _ratio(counts.get("clicked", 0), delivered),
            "conversion": _ratio(conversions, delivered),
            "unsubscribe": _ratio(counts.get("unsubscribed", 0), delivered),
            "complaint": _ratio(counts.get("complained", 0), delivered),
        },
    }


def _event_counts(messages: pa.Table, keys: list[str]) -> dict[tuple[Any, ...], dict[str, int]]:
    """Distinct message keys per `keys` + event."""
    distinct = messages.group_by([*keys, "event", "message_key"]).aggregate([])
    counted = distinct.group_by([*keys, "event"]).aggregate([("message_key", "count")])
    counts: dict[tuple[Any, ...], dict[str, int]] = defaultdict(dict)
    for row in counted.to_pylist():
        counts[tuple(row[key] for key in keys)][row["event"]] = row["message_key_count"]
    return counts


def _conversions(attributed: pa.Table, keys: list[str]) -> dict[tuple[Any, ...], tuple[int, float]]:
    """Per `keys`: messages with an attributed order, and attributed revenue."""
    by_message = attributed.group_by([*keys, "message_key"]).aggregate([("revenue", "sum")])
    totals = by_message.group_by(keys).aggregate([("message_key", "count"), ("revenue_sum", "sum")])
    return {tuple(row[key] for key in keys): (row["message_key_count"], row["revenue_sum_sum"] or 0.0)
            for row in totals.to_pylist()}  # fmt: skip


def funnels(messages: pa.Table, attributed: pa.Table) -> list[dict[str, Any]]:
    """One funnel per journey and per campaign."""
    keys = ["origin", "origin_name"]
    counts, converted = _event_counts(messages, keys), _conversions(attributed, keys)
    return [
        {"origin": origin, "origin_name": name, **funnel(counts[(origin, name)], *converted.get((origin, name), (0, 0.0)))}
        for origin, name in sorted(counts)
    ]


def headline(
    messages: pa.Table, attributed: pa.Table, rules: MeasurementRules, offers: OfferCatalogue
) -> dict[str, Any]:
    """All messages together: the funnel, cost and ROI."""
    total = messages.append_column("all", pa.nulls(messages.num_rows, pa.string()))
    counts = _event_counts(total, ["all"]).get((None,), {})
    conversions, revenue = _conversions(attributed.append_column("all", pa.nulls(attributed.num_rows, pa.string())),
                                        ["all"]).get((None,), (0, 0.0))  # fmt: skip
    sent = messages.filter(pc.equal(messages.column("event"), "sent"))
    by_channel = Counter(row["channel"] for row in sent.group_by(["channel", "message_key"]).aggregate([]).to_pylist())
    message_cost = sum(rules.message_cost.get(channel, 0.0) * count for channel, count in by_channel.items())
    redeemed = attributed.filter(pc.is_valid(attributed.column("coupon")))
    discounts = redeemed.column("discount")
    coupon_cost = pc.sum(discounts).as_py() or 0.0
    for order in redeemed.filter(pc.is_null(discounts)).select(["coupon", "revenue"]).to_pylist():
        offer = offers.offer_of(order["coupon"])
        coupon_cost += offer.discount.on(order["revenue"]) if offer is not None else rules.coupon_cost
    cost = message_cost + coupon_cost
    return {
        **funnel(counts, conversions, revenue),
        "messages_sent_by_channel": dict(sorted(by_channel.items())),
        "coupons_redeemed": redeemed.num_rows,
        "cost": {"messages": round(message_cost, 2), "coupons": round(coupon_cost, 2), "total": round(cost, 2)},
        "roi": round((revenue - cost) / cost, 4) if cost else None,
    }


def weekly(messages: pa.Table, attributed: pa.Table) -> list[dict[str, Any]]:
    """Per ISO week (its Monday) of the message events: the funnel's rates over time."""
    def monday(times: pa.ChunkedArray) -> pa.Array:
        return pc.floor_temporal(times, unit="week", week_starts_monday=True)

    counts = _event_counts(messages.append_column("week", monday(messages.column("at"))), ["week"])
    converted = _conversions(attributed.append_column("week", monday(attributed.column("touched_at"))), ["week"])
    return [{"week": week.date().isoformat(), **funnel(counts[(week,)], *converted.get((week,), (0, 0.0)))}
            for (week,) in sorted(counts)]  # fmt: skip


def _month_index(times: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Months since year 0 of each timestamp (UTC)."""
    return pc.add(pc.multiply(pc.year(times), 12), pc.subtract(pc.month(times), 1))


def cohorts(customers: pa.Table, orders: pa.Table, months: int, as_of: datetime) -> dict[str, Any]:
    """Retention by monthly signup cohort (rows: cohort month, `size`, `retention` per month since signup, None for
    months after `as_of`'s) and the repurchase rate overall and per cohort. `customers`: profile_id, signup_at;
    `orders`: profile_id, ordered_at."""
    signed = customers.filter(pc.and_(pc.is_valid(customers.column("profile_id")), pc.is_valid(customers.column("signup_at"))))
    first_signup = signed.group_by("profile_id").aggregate([("signup_at", "min")])
    cohort = first_signup.append_column("cohort", _month_index(first_signup.column("signup_at_min")))
    ordered = orders.append_column("month", _month_index(orders.column("ordered_at")))
    active = ordered.group_by(["profile_id", "month"]).aggregate([]).join(cohort.select(["profile_id", "cohort"]), "profile_id")
    active = active.append_column("offset", pc.subtract(active.column("month"), active.column("cohort")))
    active = active.filter(pc.and_(pc.greater_equal(active.column("offset"), 0), pc.less(active.column("offset"), months)))
    retained = Counter((row["cohort"], row["offset"]) for row in active.select(["cohort", "offset"]).to_pylist())
    order_counts = orders.group_by("profile_id").aggregate([("order_id", "count_distinct")])
    counted = cohort.join(order_counts, "profile_id", join_type="left outer").to_pylist()
    sizes = Counter(row["cohort"] for row in counted)
    buyers = Counter(row["cohort"] for row in counted if (row["order_id_count_distinct"] or 0) >= 1)
    repeaters = Counter(row["cohort"] for row in counted if (row["order_id_count_distinct"] or 0) >= 2)
    every_count = order_counts.column("order_id_count_distinct")
    current = as_of.year * 12 + as_of.month - 1
    table = []
    for month in sorted(sizes):
        size = sizes[month]
        table.append({
            "cohort": f"{month // 12:04d}-{month % 12 + 1:02d}", "size": size,
            "retention": [round(retained[(month, offset)] / size, 4) if month + offset <= current else None
                          for offset in range(months)],
            "repurchase_rate": _ratio(repeaters[month], buyers[month]),
        })  # fmt: skip
    return {
        "repurchase_rate": _ratio(pc.sum(pc.greater_equal(every_count, 2)).as_py() or 0, len(every_count)),
        "cohorts": table,
    }


def win_back(dormant: pa.Table, run_at: datetime, orders: pa.Table) -> dict[str, Any]:
    """Of the profiles dormant at a run (`profile_id` column), how many ordered after it."""
    after = orders.filter(pc.greater(orders.column("ordered_at"), pa.scalar(run_at, orders.schema.field("ordered_at").type)))
    dormant_ids = pc.unique(dormant.column("profile_id"))
    won = pc.sum(pc.is_in(dormant_ids, pc.unique(after.column("profile_id")))).as_py() or 0
    return {"run_at": run_at.isoformat(), "dormant": len(dormant_ids), "won_back": won, "rate": _ratio(won, len(dormant_ids))}


def satisfaction(feedback: pa.Table) -> dict[str, Any]:
    """NPS and CSAT overall and per month of the answers (`kind`, `score`, `responded_at`)."""
    months: dict[str, Counter[str]] = defaultdict(Counter)
    for row in feedback.select(["kind", "score", "responded_at"]).to_pylist():
        if row["score"] is None or row["responded_at"] is None:
            continue
        month, score = row["responded_at"].strftime("%Y-%m"), row["score"]
        for bucket in (month, "all"):
            if row["kind"] == "nps":
                months[bucket]["nps"] += 1
                months[bucket]["promoters"] += score >= 9
                months[bucket]["detractors"] += score <= 6
            elif row["kind"] == "csat":
                months[bucket]["csat"] += 1
                months[bucket]["satisfied"] += score >= 4

    def scores(counts: Counter[str]) -> dict[str, Any]:
        nps = counts["nps"]
        return {
            "nps": round(100 * (counts["promoters"] - counts["detractors"]) / nps, 1) if nps else None,
            "nps_answers": nps,
            "csat": round(100 * counts["satisfied"] / counts["csat"], 1) if counts["csat"] else None,
            "csat_answers": counts["csat"],
        }

    return {**scores(months["all"]), "monthly": [{"month": month, **scores(months[month])}
                                                 for month in sorted(months) if month != "all"]}  # fmt: skip


def segment_sizes(runs: list[tuple[str, pa.Table]]) -> list[dict[str, Any]]:
    """Per run (label, members): each segment's size."""
    sizes = []
    for label, members in runs:
        counts = members.group_by("segment").aggregate([("profile_id", "count_distinct")]).to_pylist()
        sizes.append({"run": label, "sizes": {row["segment"]: row["profile_id_count_distinct"] for row in sorted(counts, key=lambda r: r["segment"])}})
    return sizes


def rfm_migration(before: pa.Table, after: pa.Table, prefix: str) -> dict[str, dict[str, int]]:
    """Profiles per (RFM segment before, RFM segment after) of two runs; `(none)` where a profile had none."""
    def rfm(members: pa.Table) -> dict[str, str]:
        rows = members.filter(pc.starts_with(members.column("segment"), prefix)).to_pylist()
        return {row["profile_id"]: row["segment"] for row in rows}

    earlier, later = rfm(before), rfm(after)
    matrix: dict[str, Counter[str]] = defaultdict(Counter)
    for profile_id in earlier.keys() | later.keys():
        matrix[earlier.get(profile_id, NO_SEGMENT)][later.get(profile_id, NO_SEGMENT)] += 1
    return {source: dict(sorted(targets.items())) for source, targets in sorted(matrix.items())}
