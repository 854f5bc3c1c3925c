"""Lifecycle stages: the one set of thresholds and rules, and one profile's stage in pure Python (no pyarrow).

The scheduled run computes every profile's stage column-wise (cdp.segments.rfm, which takes its thresholds from
here); the live segments compute one profile's stage with `stage` below, and both name it the field
`lifecycle_stage`, which the shipped `lifecycle_*` segments test. So the run's `lifecycle:<stage>` label and the
live `lifecycle_<stage>` segment are one verdict, whoever decided it last.

Whole days before the decision time, checked in this order. First seen is the signup, first order or first
cancellation, whichever came first, else when the profile was made. Last order activity is the last completed
order; for a profile whose only lines are cancellations, its last cancellation (a cancellation reverses a purchase
made on or before it, so that customer has bought and is never new or a prospect):
    new       first seen at most NEW_WITHIN_DAYS whole days ago, at most one order, no cancellation without an order
    prospect  no order activity (and not new)
    active    last order activity at most ACTIVE_WITHIN_DAYS whole days ago
    dormant   last order activity at most DORMANT_WITHIN_DAYS whole days ago
    churned   last order activity longer ago
A moment after the decision time (clock skew) counts as 0 days ago. The three thresholds are data, in
`lifecycle_thresholds.json` beside this module, checked when it is loaded.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

THRESHOLDS_FILE = Path(__file__).with_name("lifecycle_thresholds.json")
THRESHOLD_NAMES = ("new_within_days", "active_within_days", "dormant_within_days")


def load_thresholds(path: Path = THRESHOLDS_FILE) -> tuple[int, int, int]:
    """(new, active, dormant) within days from `path`; a missing, unknown or out-of-order threshold is refused with
    its name."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or set(document) != set(THRESHOLD_NAMES):
        raise ValueError(f"{path.name}: exactly the keys {', '.join(THRESHOLD_NAMES)} are expected")
    values = tuple(document[name] for name in THRESHOLD_NAMES)
    for name, value in zip(THRESHOLD_NAMES, values):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{path.name}: {name} must be a whole number of days from 1, not {value!r}")
    if not values[1] < values[2]:
        raise ValueError(f"{path.name}: active_within_days must be below dormant_within_days")
    return values[0], values[1], values[2]


NEW_WITHIN_DAYS, ACTIVE_WITHIN_DAYS, DORMANT_WITHIN_DAYS = load_thresholds()
STAGES = ("new", "prospect", "active", "dormant", "churned")
DAY = timedelta(days=1)


def whole_days_since(moment: datetime | None, now: datetime) -> int | None:
    """Whole days from `moment` to `now` (0 for a moment after it); None stays None."""
    return None if moment is None else max((now - moment) // DAY, 0)


def stage(first_seen_days: int | None, activity_days: int | None, orders_count: int) -> str:
    """The stage of a profile first seen `first_seen_days` ago, whose last order activity was `activity_days` ago
    (None: none) and who has `orders_count` completed orders."""
    only_cancelled = activity_days is not None and orders_count == 0
    if first_seen_days is not None and first_seen_days <= NEW_WITHIN_DAYS and orders_count <= 1 and not only_cancelled:
        return "new"
    if activity_days is None:
        return "prospect"
    if activity_days <= ACTIVE_WITHIN_DAYS:
        return "active"
    return "dormant" if activity_days <= DORMANT_WITHIN_DAYS else "churned"


def next_stage_change(first_seen_at: datetime | None, activity_at: datetime | None, now: datetime) -> datetime | None:
    """The first instant after `now` at which the clock alone can change the stage: a whole-day threshold passed."""
    edges = [first_seen_at + (NEW_WITHIN_DAYS + 1) * DAY] if first_seen_at is not None else []
    if activity_at is not None:
        edges += [activity_at + (days + 1) * DAY for days in (ACTIVE_WITHIN_DAYS, DORMANT_WITHIN_DAYS)]
    return min((edge for edge in edges if edge > now), default=None)
