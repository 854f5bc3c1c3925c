"""Hand-made profile, event and order-line tables for the segment tests, timed relative to AS_OF."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from cdp.segments.arrow_types import ARROW_TYPES
from cdp.segments.vocabulary import PROFILE_FIELDS

AS_OF = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)

EVENT_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("event", pa.string()),
        ("occurred_at", ARROW_TYPES["timestamp"]),
        ("product_id", pa.string()),
        ("category", pa.string()),
        ("price", pa.float64()),
        ("discount", pa.float64()),
    ]
)
ORDER_LINE_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("order_id", pa.string()),
        ("line_id", pa.string()),
        ("ordered_at", ARROW_TYPES["timestamp"]),
        ("status", pa.string()),
        ("category", pa.string()),
        ("channel", pa.string()),
        ("line_amount", pa.float64()),
    ]
)


def profiles(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """One row per dict; timedelta values become AS_OF minus that much; every key must be a profile field."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    schema = pa.schema([(name, ARROW_TYPES[PROFILE_FIELDS[name]]) for name in names])
    converted = [
        {name: AS_OF - value if isinstance(value, timedelta) else value for name, value in row.items()} for row in rows
    ]
    return pa.Table.from_pylist(converted, schema=schema)


def events(rows: Sequence[tuple[str, str, timedelta, dict[str, Any]]] = ()) -> pa.Table:
    """(profile id, event name, how long before AS_OF, properties) per event."""
    records = [
        {"profile_id": profile_id, "event": name, "occurred_at": AS_OF - ago, **properties}
        for profile_id, name, ago, properties in rows
    ]
    return pa.Table.from_pylist(records, schema=EVENT_SCHEMA)


def order_lines(rows: Sequence[tuple[str, str, timedelta, dict[str, Any]]] = ()) -> pa.Table:
    """(profile id, order id, how long before AS_OF, other columns) per line; status defaults to completed."""
    records = [
        {"profile_id": profile_id, "order_id": order_id, "line_id": str(number), "ordered_at": AS_OF - ago,
         "status": "completed", **columns}
        for number, (profile_id, order_id, ago, columns) in enumerate(rows)
    ]  # fmt: skip
    return pa.Table.from_pylist(records, schema=ORDER_LINE_SCHEMA)
