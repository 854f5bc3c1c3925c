"""The measurement use case: read curated messages, orders, customers, feedback and segment snapshots, and compute
the marketing report (a JSON-ready dict; `cdp.measure.html` renders it).

The headline, funnels, weekly rates and uplift cover the messages of the period (`report_days` before the run, all
history without it); an order counts for them when its attribution over all history names one of those messages.
Only the message partitions from the longest touch window before the period are read: an order after the period's
start has every candidate touch there, and an order before it has none in the period. Retention, repurchase and
win-back need every order and signup, and satisfaction every answer, so those entities are read whole.

Segment snapshots are thinned to the last run of each day. The win-back rate and the RFM migration compare the
latest run with the baseline: the last run at least `compare_days` before it (else the oldest there is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.coupons.offers import load_offers
from cdp.measure import kpis
from cdp.measure.attribution import MESSAGE_SCHEMA, TIMESTAMP, attribute
from cdp.measure.orders import (
    CUSTOMER_SCHEMA,
    FEEDBACK_SCHEMA,
    ORDER_LINE_SCHEMA,
    followed_through_merges,
    order_table,
    with_profile_ids,
)
from cdp.measure.ports import CuratedTables, ProfileOwners, SegmentRun, SegmentSnapshots
from cdp.measure.rules import MeasurementRules
from cdp.measure.uplift import uplift

SIZE_HISTORY_DAYS = 90


@dataclass(frozen=True)
class MeasurementParts:
    tables: CuratedTables
    snapshots: SegmentSnapshots
    owners: ProfileOwners


def _daily(runs: list[SegmentRun]) -> list[SegmentRun]:
    """The last run of each day, the latest SIZE_HISTORY_DAYS days."""
    last_of_day = {run.day: run for run in runs}
    return [last_of_day[day] for day in sorted(last_of_day)][-SIZE_HISTORY_DAYS:]


def _segments(parts: MeasurementParts, orders: pa.Table, rules: MeasurementRules) -> dict[str, Any]:
    runs = _daily(parts.snapshots.runs())
    if not runs:
        return {"runs": 0, "sizes": [], "win_back": None, "rfm_migration": None}
    members = {run.key: parts.snapshots.members(run) for run in runs}
    latest = runs[-1]
    latest_at = parts.snapshots.computed_at(latest)
    earlier = [run for run in runs[:-1] if run.day <= (latest_at - timedelta(days=rules.compare_days)).date()]
    baseline = earlier[-1] if earlier else runs[0]
    baseline_members = members[baseline.key]
    dormant = baseline_members.filter(pc.equal(baseline_members.column("segment"), rules.dormant_segment))
    comparison = {"from_run": baseline.run_id, "from_day": baseline.day.isoformat(),
                  "to_run": latest.run_id, "to_day": latest.day.isoformat()}  # fmt: skip
    return {
        "runs": len(runs),
        "sizes": kpis.segment_sizes([(run.day.isoformat(), members[run.key]) for run in runs]),
        "win_back": {**comparison, **kpis.win_back(dormant, parts.snapshots.computed_at(baseline), orders)},
        "rfm_migration": {**comparison,
                          "matrix": kpis.rfm_migration(baseline_members, members[latest.key], rules.rfm_prefix)},
    }  # fmt: skip


def _from(table: pa.Table, column: str, start: datetime | None) -> pa.Table:
    """The rows whose `column` is at or after `start` (all of them without one)."""
    if start is None:
        return table
    return table.filter(pc.greater_equal(table.column(column), pa.scalar(start, TIMESTAMP)))


def measure_marketing(parts: MeasurementParts, rules: MeasurementRules, now: datetime) -> dict[str, Any]:
    """The whole report as of `now`."""
    start = None if rules.report_days is None else now - timedelta(days=rules.report_days)
    first_touch = None if start is None else start - timedelta(hours=rules.longest_window_hours)
    touches = _from(parts.tables.read("messages", MESSAGE_SCHEMA, first_touch and first_touch.date()), "at", first_touch)
    touches = followed_through_merges(touches, parts.owners)
    messages = _from(touches, "at", start)
    orders = order_table(parts.tables.read("orders", ORDER_LINE_SCHEMA), parts.owners)
    customers = with_profile_ids(parts.tables.read("customers", CUSTOMER_SCHEMA), parts.owners)
    feedback = parts.tables.read("feedback", FEEDBACK_SCHEMA)
    attributed = _from(attribute(orders, touches, rules.touches), "touched_at", start)
    return {
        "computed_at": now.isoformat(),
        "period_from": start and start.isoformat(),
        "rules": rules.model_dump(mode="json"),
        "orders": orders.num_rows,
        "attributed_orders": attributed.num_rows,
        "headline": kpis.headline(messages, attributed, rules, load_offers()),
        "funnels": kpis.funnels(messages, attributed),
        "weekly": kpis.weekly(messages, attributed),
        "uplift": uplift(messages, orders, rules),
        "retention": kpis.cohorts(customers, orders, rules.cohort_months, now),
        "satisfaction": kpis.satisfaction(feedback),
        "segments": _segments(parts, orders, rules),
        "personas": personas_of(parts.snapshots.latest()),
    }


def personas_of(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The personas of the latest segment run's summary, those with a name (name, size, description)."""
    given = summary.get("personas")
    if not isinstance(given, list):
        return []
    return [{"name": str(p["name"]), "description": str(p.get("description") or ""),
             "size": p["size"] if isinstance(p.get("size"), int | float) and not isinstance(p["size"], bool) else None}
            for p in given if isinstance(p, dict) and p.get("name")]  # fmt: skip
