"""Product recommendations from the shop's own orders, with pyarrow compute: items bought together with what the
customer bought, excluding what they already bought; popular items of their favourite category to fill the rest.

Input: order lines with `profile_id, order_id, sku, product_name, category, status, quantity`, of which completed
lines with quantity > 0 count (`OrderHistory`, the curated orders resolved to profiles). Two items are
bought together when they share an order; an order counts once per pair, and orders with more than
`MAX_ITEMS_PER_ORDER` distinct items (wholesale baskets) are left out of the pairs. Each item keeps its
`NEIGHBOURS_PER_ITEM` strongest partners (most shared orders; ties by product id), as item-to-item recommenders
do, so scoring costs customers' items times that number rather than times every item ever bought with them (on a
real shop's four thousand customers, each item has hundreds of partners and the unbounded join ran out of memory).
A candidate's score is the number of orders it shares with any of the customer's items it is a kept partner of.
The fallback ranks items of the customer's favourite category (the one most of their lines are in; ties by name)
by how many orders bought them, among the category's `FALLBACK_DEPTH` most popular. Ties break by product id, so the result
is deterministic. Names are each product's smallest non-empty name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

TOP_N = 5
MAX_ITEMS_PER_ORDER = 50
NEIGHBOURS_PER_ITEM = 30
FALLBACK_DEPTH = 50
LINE_SCHEMA = pa.schema(
    [(name, pa.string()) for name in ("profile_id", "order_id", "sku", "product_name", "category", "status")]
    + [("quantity", pa.int64())]
)
LINE_COLUMNS = tuple(LINE_SCHEMA.names)
RECOMMENDATIONS_SCHEMA = pa.schema(
    [("profile_id", pa.string()), ("rank", pa.int64()), ("product_id", pa.string()), ("name", pa.string())]
)


def _distinct(table: pa.Table, columns: list[str]) -> pa.Table:
    return table.group_by(columns).aggregate([])


def _ranked_within(table: pa.Table, group: str, order: list[tuple[str, str]], limit: int) -> pa.Table:
    """Rows sorted by `order` within each `group` value, each given its 0-based `rank`, the first `limit` kept."""
    ordered = table.sort_by([(group, "ascending"), *order])
    positions = pa.array(range(ordered.num_rows), pa.int64())
    ordered = ordered.append_column("position", positions)
    starts = ordered.group_by(group).aggregate([("position", "min")])
    ordered = ordered.join(starts, group).sort_by([(group, "ascending"), ("position", "ascending")])
    ranks = pc.subtract(ordered["position"], ordered["position_min"])
    ordered = ordered.append_column("rank", ranks).drop_columns(["position", "position_min"])
    return ordered.filter(pc.less(ordered["rank"], limit))


def _bought_together(baskets: pa.Table) -> pa.Table:
    """(sku, other, orders): how many orders hold both, for each item's strongest partners."""
    sizes = baskets.group_by("order_id").aggregate([("sku", "count")])
    small = sizes.filter(pc.less_equal(sizes["sku_count"], MAX_ITEMS_PER_ORDER)).select(["order_id"])
    kept = baskets.join(small, "order_id", join_type="inner")
    pairs = kept.join(kept.rename_columns(["order_id", "other"]), "order_id", join_type="inner")
    pairs = pairs.filter(pc.not_equal(pairs["sku"], pairs["other"]))
    counted = pairs.group_by(["sku", "other"]).aggregate([("order_id", "count")]).rename_columns(["sku", "other", "orders"])
    strongest = _ranked_within(counted, "sku", [("orders", "descending"), ("other", "ascending")], NEIGHBOURS_PER_ITEM)
    return strongest.drop_columns(["rank"])


def _favourite_categories(lines: pa.Table) -> pa.Table:
    """(profile_id, category): the category most of the customer's lines are in."""
    counted = (
        lines.filter(pc.is_valid(lines["category"]))
        .group_by(["profile_id", "category"])
        .aggregate([("order_id", "count")])
    )
    order = [("order_id_count", "descending"), ("category", "ascending")]
    return _ranked_within(counted, "profile_id", order, 1).select(["profile_id", "category"])


def _popular_in_category(lines: pa.Table) -> pa.Table:
    """(category, candidate, popularity): each category's most ordered items."""
    orders = _distinct(lines.filter(pc.is_valid(lines["category"])), ["category", "sku", "order_id"])
    popularity = orders.group_by(["category", "sku"]).aggregate([("order_id", "count")])
    order = [("order_id_count", "descending"), ("sku", "ascending")]
    ranked = _ranked_within(popularity, "category", order, FALLBACK_DEPTH)
    return ranked.select(["category", "sku", "order_id_count"]).rename_columns(["category", "candidate", "score"])


def recommend(lines: pa.Table, top_n: int = TOP_N) -> pa.Table:
    """Each customer's top `top_n` recommendations (RECOMMENDATIONS_SCHEMA, rank 0 first)."""
    lines = lines.select(list(LINE_COLUMNS)).cast(LINE_SCHEMA)
    bought_units = pc.and_(pc.equal(lines["status"], "completed"), pc.greater(lines["quantity"], 0))
    usable = pc.and_(pc.and_(pc.is_valid(lines["sku"]), pc.is_valid(lines["profile_id"])), bought_units)
    lines = lines.filter(pc.fill_null(usable, False))
    if lines.num_rows == 0:
        return RECOMMENDATIONS_SCHEMA.empty_table()
    bought = _distinct(lines, ["profile_id", "sku"])
    together = _bought_together(_distinct(lines, ["order_id", "sku"]))
    paired = bought.join(together, "sku", join_type="inner")
    scored = paired.group_by(["profile_id", "other"]).aggregate([("orders", "sum")])
    scored = scored.rename_columns(["profile_id", "candidate", "score"])
    scored = scored.append_column("tier", pa.array([0] * scored.num_rows, pa.int64()))
    fallback = _favourite_categories(lines).join(_popular_in_category(lines), "category").drop_columns(["category"])
    fallback = fallback.append_column("tier", pa.array([1] * fallback.num_rows, pa.int64()))
    candidates = pa.concat_tables([scored.cast(fallback.schema), fallback])
    owned = bought.rename_columns(["profile_id", "candidate"])
    candidates = candidates.join(owned, ["profile_id", "candidate"], join_type="left anti")
    best = _best_per_candidate(candidates)
    order = [("tier", "ascending"), ("score", "descending"), ("candidate", "ascending")]
    top = _ranked_within(best, "profile_id", order, top_n)
    names = _names(lines)
    top = top.join(names, "candidate", join_type="left outer").sort_by(
        [("profile_id", "ascending"), ("rank", "ascending")]
    )
    return pa.table(
        {"profile_id": top["profile_id"], "rank": top["rank"], "product_id": top["candidate"], "name": top["name"]},
        schema=RECOMMENDATIONS_SCHEMA,
    )


def _best_per_candidate(candidates: pa.Table) -> pa.Table:
    """One row per (customer, candidate): co-occurrence (tier 0) before the fallback, the higher score."""
    order = [("tier", "ascending"), ("score", "descending")]
    keyed = candidates.append_column(
        "key", pc.binary_join_element_wise(candidates["profile_id"], candidates["candidate"], "\x1f")
    )
    return _ranked_within(keyed, "key", order, 1).drop_columns(["key", "rank"])


def _names(lines: pa.Table) -> pa.Table:
    named = lines.filter(pc.greater(pc.utf8_length(pc.fill_null(lines["product_name"], "")), 0))
    names = named.group_by("sku").aggregate([("product_name", "min")])
    return names.rename_columns(["candidate", "name"])


class OrderHistory(Protocol):
    def order_lines(self) -> pa.Table:
        """Every curated order line (LINE_COLUMNS), `profile_id` the live profile of the line's customer (null when
        none is known)."""
        ...


class RecommendationStore(Protocol):
    def saved_digests(self, profile_ids: list[str]) -> dict[str, str]:
        """The digest (`list_digest`) of the list each of these profiles holds; profiles without one are absent."""
        ...

    def save_recommendations(self, profile_id: str, recommendations: list[dict[str, Any]], digest: str) -> bool:
        """Set the profile's `recommendations` and their digest; False when it no longer exists or was merged away."""
        ...


def list_digest(recommendations: list[dict[str, Any]]) -> str:
    """A short digest of a recommendation list, equal for equal lists (entries in order)."""
    return hashlib.sha256(json.dumps(recommendations, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RecommendationRun:
    lines: int
    customers: int
    saved: int
    unchanged: int


def compute_recommendations(history: OrderHistory, store: RecommendationStore, top_n: int = TOP_N) -> RecommendationRun:
    """Recommend for every customer with orders and save each one's list on their profile (`product_id`, `name`),
    unless the profile holds that list already: a nightly run mostly finds the lists of the night before, and reading
    a digest costs a fortieth of rewriting the profile item."""
    lines = history.order_lines()
    result = recommend(lines, top_n)
    by_profile: dict[str, list[dict[str, Any]]] = {}
    for row in result.to_pylist():
        entry = {"product_id": row["product_id"]} | ({"name": row["name"]} if row["name"] else {})
        by_profile.setdefault(row["profile_id"], []).append(entry)
    held = store.saved_digests(list(by_profile))
    digests = {profile_id: list_digest(entries) for profile_id, entries in by_profile.items()}
    changed = [profile_id for profile_id in by_profile if held.get(profile_id) != digests[profile_id]]
    saved = sum(store.save_recommendations(profile_id, by_profile[profile_id], digests[profile_id]) for profile_id in changed)
    return RecommendationRun(lines=lines.num_rows, customers=len(by_profile), saved=saved,
                             unchanged=len(by_profile) - len(changed))  # fmt: skip
