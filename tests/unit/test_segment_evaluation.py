"""Each condition type and tag value of the segment language, evaluated on hand-made tables."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from cdp.segments.definitions import parse_document
from cdp.segments.evaluate import behaviour_reads, evaluate
from segment_tables import AS_OF, DAY, HOUR, events, order_lines, profiles

FIVE = [{"profile_id": f"p{i}"} for i in range(1, 6)]


def _members(
    where: dict[str, Any],
    people: list[dict[str, Any]] = FIVE,
    tracked: pa.Table | None = None,
    ordered: pa.Table | None = None,
    extra: list[dict[str, Any]] | None = None,
    tags: list[dict[str, Any]] | None = None,
) -> list[str]:
    document = parse_document(
        {"tags": tags or [], "segments": [*(extra or []), {"name": "under_test", "version": 1, "where": where}]}
    )
    result = evaluate(document, profiles(people), tracked or events(), ordered or order_lines(), AS_OF)
    return sorted(result.members("under_test").to_pylist())


def _tags(tags: list[dict[str, Any]], tracked: pa.Table | None = None, ordered: pa.Table | None = None) -> dict[str, Any]:
    result = evaluate(parse_document({"tags": tags}), profiles(FIVE), tracked or events(), ordered or order_lines(), AS_OF)
    return {row.pop("profile_id"): row for row in result.tags.to_pylist()}


# ---------------------------------------------------------------- profile fields


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "orders_count", "op": ">=", "value": 2}, ["p3", "p4"]),
        ({"field": "orders_count", "op": "=", "value": 0}, ["p1"]),
        ({"field": "orders_count", "op": "!=", "value": 0}, ["p2", "p3", "p4"]),  # p5's missing count is no match
        ({"field": "orders_count", "op": "in", "value": [1, 5]}, ["p2", "p4"]),
        ({"field": "country", "op": "not_in", "value": ["GB"]}, ["p2"]),  # missing countries are not "not GB"
        ({"field": "country", "op": "contains", "value": "B"}, ["p1", "p3"]),
        ({"field": "favourite_categories", "op": "contains", "value": "shoes"}, ["p2", "p4"]),
        ({"field": "email_consent", "op": "=", "value": True}, ["p1", "p4"]),
        ({"field": "country", "op": "missing"}, ["p4", "p5"]),
        ({"field": "country", "op": "exists"}, ["p1", "p2", "p3"]),
        ({"field": "revenue", "op": "top_percent", "value": 50}, ["p3", "p4"]),  # 4 valued: ranks 1 and 2
        ({"field": "last_order_at", "op": "within_last", "value": {"days": 30}}, ["p2", "p3"]),
        ({"field": "last_order_at", "op": "more_than_ago", "value": {"days": 30}}, ["p4"]),
        ({"field": "points_next_expiry_at", "op": "within_next", "value": {"days": 7}}, ["p1"]),
        ({"field": "birthday", "op": "this_month"}, ["p3"]),
        ({"field": "p_alive", "op": "<", "value": 0.3}, ["p2"]),
    ],
)
def test_a_field_condition_selects_the_profiles_whose_value_passes(condition: dict[str, Any], expected: list[str]) -> None:
    # Given
    people = [
        {"profile_id": "p1", "orders_count": 0, "country": "GB", "email_consent": True, "revenue": 0.0,
         "points_next_expiry_at": -3 * DAY, "birthday": AS_OF.date().replace(year=1990, month=1), "p_alive": 0.9},
        {"profile_id": "p2", "orders_count": 1, "country": "FR", "favourite_categories": ["shoes", "bags"],
         "revenue": 40.0, "last_order_at": 2 * DAY, "points_next_expiry_at": -9 * DAY, "p_alive": 0.2},
        {"profile_id": "p3", "orders_count": 2, "country": "GB", "email_consent": False, "revenue": 300.0,
         "last_order_at": 30 * DAY - HOUR, "birthday": AS_OF.date().replace(year=1985, day=2),
         "points_next_expiry_at": 3 * DAY},
        {"profile_id": "p4", "orders_count": 5, "favourite_categories": ["shoes"], "email_consent": True,
         "revenue": 300.0, "last_order_at": 31 * DAY},
        {"profile_id": "p5"},
    ]  # fmt: skip
    # When / Then
    assert _members(condition, people) == expected


def test_all_any_and_not_combine_masks() -> None:
    # Given: orders 0..4 for p1..p5
    people = [{"profile_id": f"p{i}", "orders_count": i - 1} for i in range(1, 6)]
    where = {
        "any": [
            {"all": [{"field": "orders_count", "op": ">=", "value": 1}, {"field": "orders_count", "op": "<=", "value": 2}]},
            {"not": {"field": "orders_count", "op": "<", "value": 4}},
        ]
    }
    # When / Then: 1 or 2 orders, or 4 and more
    assert _members(where, people) == ["p2", "p3", "p5"]


def test_rfm_scores_are_derived_from_the_profile_columns() -> None:
    # Given: ten buyers, i+1 days since their last order, so R 5 for the two most recent
    people = [
        {"profile_id": f"p{i}", "first_seen_at": 400 * DAY, "last_order_at": (i + 1) * DAY, "orders_count": i + 1,
         "revenue": 10.0 * i}
        for i in range(10)
    ]
    # When / Then
    assert _members({"field": "r_score", "op": "=", "value": 5}, people) == ["p0", "p1"]
    assert _members({"field": "recency_days", "op": ">", "value": 8}, people) == ["p8", "p9"]


# ---------------------------------------------------------------- behaviour in a window

TRACKED = events(
    [
        ("p1", "Product Viewed", 1 * DAY, {"category": "shoes", "product_id": "A"}),
        ("p1", "Product Viewed", 2 * DAY, {"category": "shoes", "product_id": "B"}),
        ("p1", "Product Viewed", 6 * DAY, {"category": "shoes", "product_id": "C"}),
        ("p2", "Product Viewed", 1 * DAY, {"category": "shoes", "product_id": "A"}),
        ("p2", "Product Viewed", 2 * DAY, {"category": "shoes", "product_id": "A"}),
        ("p2", "Product Viewed", 8 * DAY, {"category": "shoes", "product_id": "A"}),  # outside 7 days
        ("p3", "Product Viewed", 1 * HOUR, {"category": "shoes"}),
        ("p3", "Product Viewed", 2 * HOUR, {"category": "shoes"}),
        ("p3", "Product Viewed", 3 * HOUR, {"category": "shoes"}),
        ("p3", "Order Completed", 10 * DAY, {"discount": 5.0, "price": 80.0}),
        ("p4", "Product Viewed", 1 * HOUR, {"category": "bags"}),
        ("p4", "Product Viewed", 2 * HOUR, {"category": "bags"}),
        ("p4", "Product Viewed", 3 * HOUR, {"category": "shoes"}),
        ("p4", "Order Completed", 40 * DAY, {"discount": 0.0, "price": 20.0}),
        ("nobody", "Product Viewed", 1 * HOUR, {"category": "shoes"}),  # not in the snapshot: ignored
    ]
)

SHOES_3_IN_7_DAYS = {
    "event": {
        "name": "Product Viewed",
        "where": [{"property": "category", "op": "=", "value": "shoes"}],
        "within": {"days": 7},
        "count": {"op": ">=", "value": 3},
    }
}


def test_the_issue_example_shoes_viewed_three_times_in_7_days_and_no_order_in_30() -> None:
    # Given / When
    where = {"all": [SHOES_3_IN_7_DAYS, {"not": {"event": {"name": "Order Completed", "within": {"days": 30}}}}]}
    # Then: p1 (3 in window), not p2 (one view is 8 days old), not p3 (ordered 10 days ago), not p4 (bags)
    assert _members(where, tracked=TRACKED) == ["p1"]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"name": "Product Viewed", "count": {"op": "=", "value": 0}}, ["p5"]),  # no events at all counts 0
        ({"name": "Product Viewed", "within": {"hours": 4}}, ["p3", "p4"]),
        ({"name": "Product Viewed", "where": [{"property": "product_id", "op": "in", "value": ["B", "C"]}]}, ["p1"]),
        ({"name": "Product Viewed", "where": [{"property": "product_id", "op": "missing"}]}, ["p3", "p4"]),
        ({"name": "Product Viewed", "where": [{"property": "category", "op": "contains", "value": "ag"}]}, ["p4"]),
        ({"name": "Product Viewed", "where": [{"property": "category", "op": "!=", "value": "shoes"}]}, ["p4"]),
        ({"name": "Order Completed", "sum": {"property": "price", "op": ">", "value": 50}}, ["p3"]),
        ({"name": "Order Completed", "sum": {"property": "price", "op": "<", "value": 50}}, ["p1", "p2", "p4", "p5"]),
        ({"name": "Order Completed", "where": [{"property": "discount", "op": ">", "value": 0}]}, ["p3"]),
        ({"name": "Product Viewed", "first": {"op": "more_than_ago", "value": {"days": 7}}}, ["p2"]),
        ({"name": "Product Viewed", "last": {"op": "within_last", "value": {"hours": 2}}}, ["p3", "p4"]),
        ({"name": "Product Viewed", "within": {"days": 7}, "first": {"op": "within_last", "value": {"days": 3}}},
         ["p2", "p3", "p4"]),
        ({"count": {"op": ">=", "value": 4}}, ["p3", "p4"]),  # any event
        ({"where": [{"property": "hour_of_day", "op": "=", "value": (AS_OF - HOUR).hour}]}, ["p3", "p4"]),
    ],
)
def test_an_event_condition_counts_sums_or_times_the_selected_events(event: dict[str, Any], expected: list[str]) -> None:
    assert _members({"event": event}, tracked=TRACKED) == expected


ORDERED = order_lines(
    [
        ("p1", "o1", 5 * DAY, {"category": "shoes", "channel": "web", "line_amount": 50.0}),
        ("p1", "o1", 5 * DAY, {"category": "bags", "channel": "web", "line_amount": 30.0}),
        ("p1", "o2", 100 * DAY, {"category": "shoes", "channel": "store", "line_amount": 20.0}),
        ("p2", "o3", 2 * DAY, {"category": "bags", "channel": "app", "line_amount": 500.0}),
        ("p2", "o4", 3 * DAY, {"category": "bags", "channel": "app", "line_amount": 10.0, "status": "cancelled"}),
        ("p3", "o5", 400 * DAY, {"category": "toys", "channel": "web", "line_amount": 15.0}),
    ]
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"count": {"op": ">=", "value": 2}}, ["p1"]),  # distinct orders, not lines; cancelled lines do not count
        ({"within": {"days": 30}}, ["p1", "p2"]),
        ({"within": {"days": 30}, "sum": {"property": "line_amount", "op": ">=", "value": 80}}, ["p1", "p2"]),
        ({"sum": {"property": "line_amount", "op": ">", "value": 100}}, ["p2"]),
        ({"where": [{"property": "category", "op": "=", "value": "shoes"}], "within": {"days": 30}}, ["p1"]),
        ({"last": {"op": "more_than_ago", "value": {"days": 365}}}, ["p3"]),
        ({"count": {"op": "=", "value": 0}, "within": {"days": 365}}, ["p3", "p4", "p5"]),
    ],
)
def test_an_orders_condition_reads_completed_order_lines(condition: dict[str, Any], expected: list[str]) -> None:
    assert _members({"orders": condition}, ordered=ORDERED) == expected


TOGETHER = [
    ("p1", "o1", 5 * DAY, {"line_amount": 10.0}),
    ("p1", "o1", 5 * DAY, {"line_amount": 10.0}),
    ("p1", "o2", 6 * DAY, {"line_amount": 10.0}),
    ("p2", "o4", 7 * DAY, {"line_amount": 10.0}),
    ("p2", "o9", 8 * DAY, {"line_amount": 10.0, "status": "cancelled"}),
    ("p2", "o9", 8 * DAY, {"line_amount": 10.0}),  # one completed line makes a completed order
    ("p3", "o3", 400 * DAY, {"line_amount": 10.0}),
]


@pytest.mark.parametrize(
    "arrangement",
    [
        pytest.param(TOGETHER, id="each order's lines together"),
        pytest.param([TOGETHER[i] for i in (0, 2, 3, 5, 1, 6, 4)], id="an order's lines apart"),
        pytest.param([("p2", "o1", *line[2:]) if line[1] == "o4" else line for line in TOGETHER],
                     id="two profiles holding one order id"),  # as orders of two sources may
    ],
)  # fmt: skip
def test_an_order_counts_once_however_its_lines_lie_and_for_each_profile_holding_its_id(arrangement: list) -> None:
    # Given: p1 ordered o1 (two lines) and o2, p2 o4 and o9 (with a cancelled line), p3 o3 more than a year ago
    ordered = order_lines(arrangement)
    # When / Then
    assert _members({"orders": {"count": {"op": "=", "value": 2}}}, ordered=ordered) == ["p1", "p2"]
    assert _members({"orders": {"count": {"op": "=", "value": 1}, "within": {"days": 365}}}, ordered=ordered) == []
    assert _members({"orders": {"count": {"op": "=", "value": 1}}}, ordered=ordered) == ["p3"]
    assert _members({"all": [{"orders": {"count": {"op": "=", "value": 2}, "within": {"days": 6}}},
                             {"orders": {"sum": {"property": "line_amount", "op": "=", "value": 30}}}]},
                    ordered=ordered) == ["p1"]  # fmt: skip


def _labelled(table: pa.Table, spare: list[str]) -> pa.Table:
    """`table` with its event, status and category columns dictionary-encoded as Parquet readers give them: in two
    chunks with their own dictionaries, each dictionary led by `spare` entries no row uses."""
    columns = {}
    for name in table.column_names:
        if name not in ("event", "status", "category"):
            columns[name] = table[name]
            continue
        chunks = []
        for part in (table[name].slice(0, 2), table[name].slice(2)):
            values = part.to_pylist()
            entries = [*spare, *sorted({value for value in values if value is not None})]
            codes = pa.array([None if value is None else entries.index(value) for value in values], pa.int32())
            chunks.append(pa.DictionaryArray.from_arrays(codes, pa.array(entries)))
        columns[name] = pa.chunked_array(chunks, pa.dictionary(pa.int32(), pa.string()))
    return pa.table(columns)


@pytest.mark.parametrize("spare", [pytest.param([], id="few entries"), pytest.param(["a", "b", "c", "d", "e"],
                                                                                    id="many entries")])  # fmt: skip
@pytest.mark.parametrize(
    "where",
    [
        {"event": {"name": "Product Viewed", "where": [{"property": "category", "op": "=", "value": "shoes"}]}},
        {"event": {"name": "Product Viewed", "where": [{"property": "category", "op": "!=", "value": "shoes"}]}},
        {"event": {"where": [{"property": "category", "op": "not_in", "value": ["bags", "a"]}]}},
        {"event": {"where": [{"property": "category", "op": "in", "value": ["bags", "shoes"]}]}},
        {"event": {"where": [{"property": "category", "op": "contains", "value": "o"}]}},
        {"event": {"name": "Order Completed", "count": {"op": "=", "value": 0}}},
        {"orders": {"where": [{"property": "category", "op": "!=", "value": "toys"}], "count": {"op": ">=", "value": 1}}},
        {"orders": {"within": {"days": 30}, "sum": {"property": "line_amount", "op": ">=", "value": 80}}},
    ],
)
def test_dictionary_encoded_labels_select_what_plain_text_selects(where: dict[str, Any], spare: list[str]) -> None:
    # Given: the same behaviour as plain text and with its labels dictionary-encoded (tests true for many entries)
    # When / Then
    plain = _members(where, tracked=TRACKED, ordered=ORDERED)
    assert _members(where, tracked=_labelled(TRACKED, spare), ordered=_labelled(ORDERED, spare)) == plain


# ---------------------------------------------------------------- segment references


def test_a_segment_defined_before_the_one_it_refers_to_is_evaluated_after_it() -> None:
    # Given: "loyal_not_new" (first) refers to "loyal" (second), which refers to "buyers" (third)
    people = [{"profile_id": f"p{i}", "orders_count": i, "first_seen_at": (10 * i) * DAY} for i in range(1, 6)]
    document = parse_document(
        {
            "segments": [
                {"name": "loyal_not_new", "version": 1, "where": {"all": [
                    {"segment": "loyal"}, {"field": "first_seen_at", "op": "more_than_ago", "value": {"days": 35}}]}},
                {"name": "loyal", "version": 1, "where": {"all": [
                    {"segment": "buyers"}, {"field": "orders_count", "op": ">=", "value": 3}]}},
                {"name": "buyers", "version": 1, "where": {"field": "orders_count", "op": ">", "value": 0}},
            ]
        }
    )  # fmt: skip
    # When
    result = evaluate(document, profiles(people), events(), order_lines(), AS_OF)
    # Then
    assert result.order == ["buyers", "loyal", "loyal_not_new"]
    assert result.members("loyal").to_pylist() == ["p3", "p4", "p5"]
    assert result.members("loyal_not_new").to_pylist() == ["p4", "p5"]
    assert result.sizes() == {"loyal_not_new": 2, "loyal": 3, "buyers": 5}


# ---------------------------------------------------------------- tags


def test_tags_compute_a_value_per_profile_and_segments_can_test_them() -> None:
    # Given
    tags = [
        {"name": "favourite_category", "version": 1, "orders": {}, "value": {"most_frequent": "category"}},
        {"name": "preferred_channel", "version": 1, "orders": {"within": {"days": 30}}, "value": {"most_frequent": "channel"}},
        {"name": "gap", "version": 1, "orders": {}, "value": {"average_gap_days": True}},
        {"name": "spend", "version": 1, "orders": {}, "value": {"sum": "line_amount"}},
        {"name": "orders_seen", "version": 1, "orders": {}, "value": {"count": True}},
        {"name": "first_order", "version": 1, "orders": {}, "value": {"first_at": True}},
        {"name": "last_viewed", "version": 1, "event": {"name": "Product Viewed"}, "value": {"last": "product_id"}},
        {"name": "products_viewed", "version": 1, "event": {"name": "Product Viewed"}, "value": {"count_distinct": "product_id"}},
        {"name": "discount_share", "version": 1, "event": {"name": "Order Completed"},
         "value": {"share": [{"property": "discount", "op": ">", "value": 0}]}},
        {"name": "active_hour", "version": 1, "event": {}, "value": {"most_frequent": "hour_of_day"}},
    ]  # fmt: skip
    # When
    values = _tags(tags, tracked=TRACKED, ordered=ORDERED)
    # Then: p1 has shoes twice (o1, o2) and bags once; orders 95 days apart
    assert values["p1"]["favourite_category"] == "shoes"
    assert values["p1"]["preferred_channel"] == "web"
    assert values["p1"]["gap"] == pytest.approx(95.0)
    assert values["p1"]["spend"] == 100.0
    assert values["p1"]["orders_seen"] == 2
    assert values["p1"]["first_order"] == AS_OF - 100 * DAY
    assert values["p1"]["last_viewed"] == "A"
    assert values["p1"]["products_viewed"] == 3
    assert values["p2"]["favourite_category"] == "bags"  # the cancelled line does not count
    assert values["p2"]["gap"] is None  # one order: no gap
    assert values["p3"]["preferred_channel"] is None  # no order in 30 days
    assert values["p3"]["discount_share"] == 1.0
    assert values["p4"]["discount_share"] == 0.0
    assert values["p5"]["discount_share"] is None
    assert values["p4"]["active_hour"] == (AS_OF - 3 * HOUR).hour  # four hours tie with one event each: the smallest
    assert values["p5"]["orders_seen"] == 0
    # And a segment tests a tag like a field
    members = _members({"field": "favourite_category", "op": "=", "value": "bags"}, ordered=ORDERED, tags=tags[:1])
    assert members == ["p2"]


def test_a_most_frequent_tie_goes_to_the_smallest_value() -> None:
    ordered = order_lines([("p1", "o1", DAY, {"category": "toys"}), ("p1", "o2", DAY, {"category": "books"})])
    tag = {"name": "favourite_category", "version": 1, "orders": {}, "value": {"most_frequent": "category"}}
    assert _tags([tag], ordered=ordered)["p1"]["favourite_category"] == "books"


# ---------------------------------------------------------------- inputs


def test_duplicated_profile_ids_are_refused() -> None:
    document = parse_document({"segments": [{"name": "all_people", "version": 1, "where": {"field": "profile_id", "op": "exists"}}]})
    with pytest.raises(ValueError, match="one row per profile_id"):
        evaluate(document, profiles([{"profile_id": "p1"}, {"profile_id": "p1"}]), events(), order_lines(), AS_OF)


def test_columns_absent_from_the_inputs_are_missing_values_and_reported() -> None:
    # Given: no loyalty columns in the snapshot, no coupon column in the events
    where = {"any": [{"field": "loyalty_tier", "op": "=", "value": "vip"},
                     {"event": {"name": "Order Completed", "where": [{"property": "coupon", "op": "exists"}]}}]}  # fmt: skip
    document = parse_document({"segments": [{"name": "vip", "version": 1, "where": where}]})
    # When
    result = evaluate(document, profiles(FIVE), TRACKED, order_lines(), AS_OF)
    # Then
    assert result.members("vip").to_pylist() == []
    assert result.missing_columns == ["loyalty_tier", "occurred_at:coupon"]


def test_comparisons_on_an_absent_property_column_are_false() -> None:
    # Given: tests comparing a property the events do not carry, and one the order lines lack
    where = {"any": [
        {"event": {"name": "Order Completed", "where": [{"property": "coupon", "op": "=", "value": "SPRING"}]}},
        {"event": {"where": [{"property": "coupon", "op": "not_in", "value": ["SPRING"]}]}},
        {"orders": {"where": [{"property": "brand", "op": "in", "value": ["Acme"]}]}},
    ]}  # fmt: skip
    document = parse_document({"segments": [{"name": "coupon_users", "version": 1, "where": where}]})
    # When
    lines = order_lines([("p1", "o1", DAY, {"category": "shoes"})])
    result = evaluate(document, profiles(FIVE), TRACKED, lines, AS_OF)
    # Then: a test on a missing value is false, and the columns are reported
    assert result.members("coupon_users").to_pylist() == []
    assert result.missing_columns == ["occurred_at:coupon", "ordered_at:brand"]


def test_a_missing_profile_id_is_refused() -> None:
    document = parse_document({"segments": [{"name": "all_people", "version": 1, "where": {"field": "profile_id", "op": "exists"}}]})
    with pytest.raises(ValueError, match="one row per profile_id"):
        evaluate(document, profiles([{"profile_id": "p1"}, {"profile_id": None}]), events(), order_lines(), AS_OF)


def test_behaviour_reads_names_the_columns_and_the_oldest_time_a_document_needs() -> None:
    # Given: events within 7 and 30 days; orders within 90 days and a tag over all order history
    document = parse_document({
        "tags": [{"name": "spend", "version": 1, "orders": {"where": [{"property": "channel", "op": "=", "value": "web"}]},
                  "value": {"sum": "line_amount"}}],
        "segments": [
            {"name": "shoes", "version": 1, "where": {"all": [SHOES_3_IN_7_DAYS, {"not": {"event": {
                "name": "Order Completed", "within": {"days": 30}, "sum": {"property": "discount", "op": ">", "value": 0}}}}]}},
            {"name": "recent", "version": 1, "where": {"orders": {"within": {"days": 90}}}},
        ],
    })  # fmt: skip
    # When
    reads = behaviour_reads(document, AS_OF)
    # Then
    assert reads.event_columns == ["category", "discount", "event", "occurred_at", "profile_id"]
    assert reads.order_line_columns == ["channel", "line_amount", "order_id", "ordered_at", "profile_id", "status"]
    assert (reads.events_since, reads.order_lines_since) == (AS_OF - 30 * DAY, None)
