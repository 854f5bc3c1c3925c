"""Attribution: which message, if any, each order is the conversion of (pyarrow compute, no loops over rows).

The rule (`MeasurementRules.touches`) is the same for journeys and campaigns. For each order, the candidate touches
are the message events of the same profile listed in the rule, strictly before the order and no longer before it
than their event's window. The touch of the first-listed event wins (a click outranks a delivery), and among touches
of that event the latest (last touch); a tie in time goes to the smaller message key, so a rerun attributes alike.
Every order is attributed at most once, with its whole revenue, so two messages never share or double an order.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from cdp.measure.rules import Touch

TIMESTAMP = pa.timestamp("us", tz="UTC")
MESSAGE_COLUMNS = ("message_key", "profile_id", "origin", "origin_name", "step", "variant", "channel", "event", "at")
ORDER_SCHEMA = pa.schema([
    ("order_id", pa.string()), ("profile_id", pa.string()), ("ordered_at", TIMESTAMP), ("revenue", pa.float64()),
    ("coupon", pa.string()), ("discount", pa.float64()),
])  # fmt: skip
MESSAGE_SCHEMA = pa.schema([
    ("message_key", pa.string()), ("profile_id", pa.string()), ("origin", pa.string()), ("origin_name", pa.string()),
    ("step", pa.string()), ("variant", pa.string()), ("occurrence", pa.string()), ("channel", pa.string()),
    ("purpose", pa.string()), ("template", pa.string()), ("event", pa.string()), ("reason", pa.string()),
    ("at", TIMESTAMP), ("provider_message_id", pa.string()),
])  # fmt: skip
"""The curated `messages` entity's columns (the sending service writes them; measurement reads them)."""


def _first_of_each(table: pa.Table, key: str) -> pa.Table:
    """The first row of each run of equal `key` values (the table sorted by key)."""
    if table.num_rows == 0:
        return table
    keys = table.column(key).combine_chunks()
    first = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
    return table.filter(pa.concat_arrays([pa.array([True]), first.fill_null(True)]))


def attribute(orders: pa.Table, messages: pa.Table, touches: tuple[Touch, ...]) -> pa.Table:
    """One row per attributed order: the order's columns and the winning message's origin, origin_name, step,
    variant, channel, message_key, `touch` (its event) and `touched_at`."""
    rule = pa.table({
        "touch": [touch.event for touch in touches],
        "priority": pa.array(range(len(touches)), pa.int32()),
        "window_us": pa.array([round(touch.window_hours * 3_600_000_000) for touch in touches], pa.int64()),
    })  # fmt: skip
    renamed = [{"event": "touch", "at": "touched_at"}.get(name, name) for name in MESSAGE_COLUMNS]
    candidates = (
        messages.filter(pc.is_in(messages.column("event"), rule.column("touch")))
        .select(list(MESSAGE_COLUMNS))
        .rename_columns(renamed)
        .join(rule, "touch")
    )
    pairs = orders.select(ORDER_SCHEMA.names).join(candidates, "profile_id", join_type="inner")
    elapsed = pc.cast(
        pc.subtract(pc.cast(pairs.column("ordered_at"), pa.int64()), pc.cast(pairs.column("touched_at"), pa.int64())),
        pa.int64(),
    )
    within = pc.and_(pc.greater(elapsed, 0), pc.less_equal(elapsed, pairs.column("window_us")))
    pairs = pairs.filter(within).sort_by([
        ("order_id", "ascending"), ("priority", "ascending"), ("touched_at", "descending"), ("message_key", "ascending"),
    ])  # fmt: skip
    return _first_of_each(pairs, "order_id").drop_columns(["priority", "window_us"])
