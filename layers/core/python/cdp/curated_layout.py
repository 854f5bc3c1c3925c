"""Where curated rows land, whichever entry point they came through: `<entity>/dt=YYYY-MM-DD/` in the curated
bucket, `dt` the UTC date of the entity's date column (the day the row arrived where it has none, e.g. a customer
without a signup time). Pure Python, so the light tracking function shares it with the file pipeline."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

DATE_COLUMNS: dict[str, str] = {
    "customers": "signup_at",
    "orders": "ordered_at",
    "returns": "returned_at",
    "events": "occurred_at",
    "tickets": "updated_at",
    "feedback": "responded_at",
    "consents": "recorded_at",
    "loyalty": "occurred_at",
}
"""Each canonical entity's date column, the one its curated partitions follow."""


def partition_day(entity: str, row: dict[str, Any], arrived: date) -> date:
    """The `dt` partition of one row: its date column's UTC date, else the day it arrived."""
    value = row.get(DATE_COLUMNS[entity])
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    return arrived
