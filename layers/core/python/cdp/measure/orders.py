"""Curated rows as measurement reads them: each row's profile (from its strongest bound identifier, merges followed)
and order lines folded into orders.

Curated rows name people by identifiers (customer_id, email, phone, anonymous_id); messages and segment snapshots
by profile id. A row belongs to the profile its strongest identifier is bound to, followed through merges; a row
none of whose identifiers is bound (a guest, an erased person) has no profile and counts for no one.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from cdp.canonical import IDENTIFIER_TYPES
from cdp.measure.attribution import ORDER_SCHEMA, TIMESTAMP
from cdp.measure.ports import ProfileOwners

ORDER_LINE_SCHEMA = pa.schema([
    ("order_id", pa.string()), *((name, pa.string()) for name in IDENTIFIER_TYPES), ("ordered_at", TIMESTAMP),
    ("line_amount", pa.float64()), ("status", pa.string()), ("coupon", pa.string()), ("discount", pa.float64()),
])  # fmt: skip
"""The curated order lines' columns measurement reads (`coupon` and `discount` where the export has them)."""
CUSTOMER_SCHEMA = pa.schema([*((name, pa.string()) for name in IDENTIFIER_TYPES), ("signup_at", TIMESTAMP)])
FEEDBACK_SCHEMA = pa.schema([("kind", pa.string()), ("score", pa.int64()), ("responded_at", TIMESTAMP)])


def with_profile_ids(table: pa.Table, owners: ProfileOwners) -> pa.Table:
    """`table` with a `profile_id` column (null where no identifier of the row is bound)."""
    columns = {name: pc.cast(table.column(name), pa.string()) for name in IDENTIFIER_TYPES if name in table.column_names}
    present = list(columns)
    wanted = {(name, value) for name in present for value in pc.unique(columns[name]).to_pylist() if value is not None}
    bound = owners.find_bound(wanted)
    live = owners.live_profile_ids(set(bound.values()))
    owner_of = {identifier: live.get(profile_id, profile_id) for identifier, profile_id in bound.items()}
    profile_ids: pa.ChunkedArray | pa.Array = pa.nulls(table.num_rows, pa.string())
    for name in reversed(present):  # strongest last, so it wins
        keys = [value for (kind, value) in owner_of if kind == name]
        values = pa.array([owner_of[(name, value)] for value in keys], pa.string())
        found = pc.take(values, pc.index_in(columns[name], pa.array(keys, pa.string())))
        profile_ids = pc.coalesce(found, profile_ids)
    return table.append_column("profile_id", profile_ids)


def followed_through_merges(table: pa.Table, owners: ProfileOwners) -> pa.Table:
    """`table` with each `profile_id` replaced by its surviving profile, so a message sent before a merge meets the
    orders of the profile it merged into (ids erased or unknown stay as they are: no order is theirs)."""
    ids = pc.unique(table.column("profile_id")).drop_null().to_pylist()
    moved = {old: live for old, live in owners.live_profile_ids(ids).items() if live and live != old}
    if not moved:
        return table
    olds = pa.array(list(moved), pa.string())
    lives = pc.take(pa.array(list(moved.values()), pa.string()), pc.index_in(table.column("profile_id"), olds))
    position = table.column_names.index("profile_id")
    return table.set_column(position, "profile_id", pc.coalesce(lives, table.column("profile_id")))


def order_table(lines: pa.Table, owners: ProfileOwners) -> pa.Table:
    """Completed orders, one row each (ORDER_SCHEMA): the earliest line's time, revenue the sum of line amounts,
    the coupon code and discount when the export has them; only orders with a profile."""
    completed = lines.filter(pc.equal(lines.column("status"), "completed"))
    grouped = completed.group_by("order_id").aggregate([
        ("ordered_at", "min"), ("line_amount", "sum"), ("coupon", "max"), ("discount", "sum"),
        *((name, "max") for name in IDENTIFIER_TYPES),
    ])  # fmt: skip
    grouped = grouped.rename_columns([name.removesuffix("_min").removesuffix("_sum").removesuffix("_max")
                                      for name in grouped.column_names])  # fmt: skip
    orders = with_profile_ids(grouped, owners)
    orders = orders.filter(pc.is_valid(orders.column("profile_id")))
    return pa.table({
        "order_id": orders.column("order_id"),
        "profile_id": orders.column("profile_id"),
        "ordered_at": pc.cast(orders.column("ordered_at"), ORDER_SCHEMA.field("ordered_at").type),
        "revenue": pc.cast(pc.fill_null(orders.column("line_amount"), 0), pa.float64()),
        "coupon": pc.cast(orders.column("coupon"), pa.string()),
        "discount": pc.cast(orders.column("discount"), pa.float64()),
    }, schema=ORDER_SCHEMA)  # fmt: skip
