"""Recommendations against a hand-computed example: bought together first, favourite category's popular items next."""

from __future__ import annotations

import pyarrow as pa
import pytest
from cdp import recommendations
from cdp.recommendations import recommend

# order: (customer, [(sku, name, category)])
ORDERS = {
    "O1": ("ann", [("tent", "Tent", "camping"), ("stove", "Stove", "camping")]),
    "O2": ("bob", [("tent", "Tent", "camping"), ("stove", "Stove", "camping"), ("lamp", "Lamp", "camping")]),
    "O3": ("cat", [("tent", "Tent", "camping"), ("lamp", "Lamp", "camping")]),
    "O4": ("cat", [("mug", "Mug", "kitchen")]),
    "O5": ("dan", [("stove", "Stove", "camping"), ("mug", "Mug", "kitchen")]),
    "O6": ("eve", [("kettle", "Kettle", "kitchen")]),
    "O7": ("bob", [("mug", "Mug", "kitchen"), ("pan", None, "kitchen")]),
}


def _lines() -> pa.Table:
    rows = [
        {
            "profile_id": customer,
            "order_id": order_id,
            "sku": sku,
            "product_name": name,
            "category": category,
            "status": "completed",
            "quantity": 1,
        }
        for order_id, (customer, items) in ORDERS.items()
        for sku, name, category in items
    ]
    return pa.Table.from_pylist(rows)


def _by_customer(table: pa.Table) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for row in table.to_pylist():
        result.setdefault(row["profile_id"], []).append(row["product_id"])
    return result


def test_bought_together_then_popular_in_the_favourite_category() -> None:
    # Given the orders above. Pairs (orders sharing both): tent-stove 2, tent-lamp 2, stove-lamp 1, stove-mug 1,
    # mug-pan 1. Item orders: tent 3, stove 3, lamp 2, mug 3, kettle 1, pan 1.
    # ann (tent, stove): lamp = tent-lamp 2 + stove-lamp 1 = 3; mug = stove-mug 1; then camping's popular: all bought
    #   or recommended already.
    # cat (tent, lamp, mug; favourite camping 2 lines): stove = tent 2 + lamp 1 + mug 1 = 4; pan = mug-pan 1.
    # eve (kettle, nothing paired; favourite kitchen): kitchen by orders mug 3, then pan 1 (kettle is hers).
    # bob (tent, stove, lamp, mug, pan): every paired item is his, as is all of camping (3 lines to kitchen's 2).
    # dan (stove, mug; camping 1 / kitchen 1 -> camping by name): tent 2, lamp 1, pan 1 (ties by id: lamp, pan).
    # When
    result = recommend(_lines(), top_n=3)
    # Then
    # And bob, who bought every item paired with his and all of camping, his favourite, gets nothing
    assert _by_customer(result) == {
        "ann": ["lamp", "mug"],
        "cat": ["stove", "pan"],
        "dan": ["tent", "lamp", "pan"],
        "eve": ["mug", "pan"],
    }
    names = {row["product_id"]: row["name"] for row in result.to_pylist()}
    assert names == {"lamp": "Lamp", "mug": "Mug", "stove": "Stove", "pan": None, "tent": "Tent"}


def test_lines_that_bought_nothing_recommend_nothing() -> None:
    # Given only lines that bought nothing: cancelled, returned units, no product id
    rows = [
        {"profile_id": "ann", "order_id": "O1", "sku": "tent", "product_name": None, "category": "c",
         "status": "cancelled", "quantity": 1},
        {"profile_id": "ann", "order_id": "O2", "sku": "tent", "product_name": None, "category": "c",
         "status": "completed", "quantity": -1},
        {"profile_id": "bob", "order_id": "O3", "sku": None, "product_name": None, "category": "c",
         "status": "completed", "quantity": 1},
    ]  # fmt: skip
    # When / Then
    assert recommend(pa.Table.from_pylist(rows)).num_rows == 0


def test_wholesale_baskets_pair_nothing() -> None:
    # Given one order of 51 different items (over the limit) and one small order sharing an item with it
    big = [{"profile_id": "trader", "order_id": "W1", "sku": f"s{n:02d}", "product_name": None, "category": None,
            "status": "completed", "quantity": 1} for n in range(51)]  # fmt: skip
    small = [{"profile_id": "ann", "order_id": "O1", "sku": "s00", "product_name": None, "category": None,
              "status": "completed", "quantity": 1}]  # fmt: skip
    # When / Then nobody is recommended the wholesale basket's other items (and no category means no fallback)
    assert recommend(pa.Table.from_pylist(big + small)).num_rows == 0


def test_each_item_pairs_only_with_its_strongest_partners(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given each item keeps one partner: tent's strongest is lamp (2 orders, tied with stove 2, lamp first by id),
    # stove's is tent (2; lamp and mug share one order each)
    monkeypatch.setattr(recommendations, "NEIGHBOURS_PER_ITEM", 1)
    # When
    result = _by_customer(recommend(_lines(), top_n=3))
    # Then ann (tent, stove) gets lamp through tent (2), and no longer mug, a weak partner of stove
    assert result["ann"] == ["lamp"]
    # and cat (tent, lamp, mug) gets pan through mug (mug's partners pan and stove tie at 1, pan first by id), and
    # stove (4 orders with her items when every partner counts) only after it, from the camping fallback
    assert result["cat"] == ["pan", "stove"]
