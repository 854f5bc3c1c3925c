"""Bad segment and tag definitions are refused with the JSON path of their place; good ones parse."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cdp.segments.definitions import (
    InvalidDefinitions,
    load_library,
    parse_document,
    parse_document_text,
)

GOOD: dict[str, Any] = {
    "custom_events": ["Newsletter Signed Up"],
    "custom_properties": {"size": "string"},
    "tags": [{"name": "favourite_category", "version": 1, "orders": {}, "value": {"most_frequent": "category"}}],
    "segments": [
        {"name": "buyers", "version": 1, "where": {"field": "orders_count", "op": ">", "value": 0}},
        {"name": "shoe_lovers", "version": 2, "description": "d", "where": {"all": [
            {"segment": "buyers"},
            {"field": "favourite_category", "op": "=", "value": "shoes"},
            {"event": {"name": "Product Viewed", "within": {"days": 7}, "count": {"op": ">=", "value": 3},
                       "where": [{"property": "size", "op": "in", "value": ["42", "43"]}]}},
            {"not": {"event": {"name": "Newsletter Signed Up", "within": {"weeks": 2}}}},
        ]}},
    ],
}  # fmt: skip


def _problems(change: Any) -> list[str]:
    """The problems of GOOD after `change(document)` edits a copy of it."""
    document = copy.deepcopy(GOOD)
    change(document)
    with pytest.raises(InvalidDefinitions) as refused:
        parse_document(document)
    return [str(problem) for problem in refused.value.problems]


def _shoe_condition(document: dict[str, Any], index: int) -> dict[str, Any]:
    return document["segments"][1]["where"]["all"][index]  # type: ignore[no-any-return]


def test_a_good_document_parses_with_its_versions() -> None:
    document = parse_document(copy.deepcopy(GOOD))
    assert [(segment.name, segment.version) for segment in document.segments] == [("buyers", 1), ("shoe_lovers", 2)]


def test_the_shipped_library_is_valid() -> None:
    library = load_library()
    names = {segment.name for segment in library.segments}
    assert len([name for name in names if name.startswith("rfm_")]) == 11
    assert {"lifecycle_new", "lifecycle_prospect", "lifecycle_active", "lifecycle_dormant", "lifecycle_churned"} <= names
    assert all(segment.version >= 1 for segment in library.segments)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # unknown field, key, event, property, segment
        (lambda d: _shoe_condition(d, 1).update(field="favourite_colour"),
         "segments[1].where.all[1].field: unknown field 'favourite_colour'"),
        (lambda d: _shoe_condition(d, 2)["event"].update(windw={"days": 1}), "segments[1].where.all[2].event.windw: unknown key"),
        (lambda d: _shoe_condition(d, 2)["event"].update(name="Product Seen"),
         "segments[1].where.all[2].event.name: unknown event 'Product Seen': not an E-commerce Spec v2 event nor a declared custom_events name"),
        (lambda d: d["custom_events"].clear(),
         "segments[1].where.all[3].not.event.name: unknown event 'Newsletter Signed Up': not an E-commerce Spec v2 event nor a declared custom_events name"),
        (lambda d: _shoe_condition(d, 2)["event"]["where"][0].update(property="colour"),
         "segments[1].where.all[2].event.where[0].property: unknown property 'colour'"),
        (lambda d: _shoe_condition(d, 0).update(segment="buyer"), "segments[1].where.all[0].segment: unknown segment 'buyer'"),
        (lambda d: d["tags"][0]["value"].update(most_frequent="colour"), "tags[0].value.most_frequent: unknown property 'colour'"),
        # wrong type for an operator
        (lambda d: _shoe_condition(d, 1).update(op=">"), "segments[1].where.all[1].op: '>' does not apply to a string value"),
        (lambda d: d["segments"][0]["where"].update(value="1"), "segments[0].where.value: '1' is not a integer"),
        (lambda d: d["segments"][0]["where"].update(value=True), "segments[0].where.value: True is not a integer"),
        (lambda d: d["segments"][0]["where"].update(op="in"), "segments[0].where.value: 'in' needs a non-empty list"),
        (lambda d: d["segments"][0]["where"].update(op="within_last"),
         "segments[0].where.op: 'within_last' does not apply to a integer value"),
        (lambda d: d["segments"][0].update(where={"field": "last_order_at", "op": "within_last", "value": 7}),
         "segments[0].where.value: 'within_last' needs a duration such as {\"days\": 7}"),
        (lambda d: d["segments"][0].update(where={"field": "revenue", "op": "top_percent", "value": 120}),
         "segments[0].where.value: top_percent needs a number above 0 and up to 100"),
        (lambda d: _shoe_condition(d, 2)["event"].update(count=None, sum={"property": "name", "op": ">", "value": 1}),
         "segments[1].where.all[2].event.sum.property: sum needs a number property, not string"),
        (lambda d: _shoe_condition(d, 2)["event"].update(count={"op": "~", "value": 1}),
         "segments[1].where.all[2].event.count.op: Input should be '=', '!=', '<', '<=', '>' or '>='"),
        # impossible windows
        (lambda d: _shoe_condition(d, 2)["event"].update(within={"days": -7}),
         "segments[1].where.all[2].event.within: a window must be positive"),
        (lambda d: _shoe_condition(d, 2)["event"].update(within={"days": 0}),
         "segments[1].where.all[2].event.within: a window must be positive"),
        (lambda d: _shoe_condition(d, 2)["event"].update(within={"days": 731}),
         "segments[1].where.all[2].event.within: a window may not reach beyond the 730 days behaviour is kept"),
        (lambda d: d["segments"][0].update(where={"field": "last_order_at", "op": "within_last", "value": {"hours": -1}}),
         "segments[0].where.value: a window must be positive"),
        # malformed conditions and definitions
        (lambda d: d["segments"][0].update(where={"segment": "buyers", "field": "revenue"}),
         "segments[0].where: a condition has exactly one of all, any, not, field, segment, event, orders, today (found ['field', 'segment'])"),
        (lambda d: d["segments"][0].update(where={"all": []}), "segments[0].where: all needs at least one condition"),
        (lambda d: _shoe_condition(d, 2)["event"].update(last={"op": "within_last", "value": {"days": 1}}),
         "segments[1].where.all[2].event: a behaviour condition has at most one of count, sum, first, last"),
        (lambda d: d["segments"][0].update(version=0), "segments[0].version: Input should be greater than or equal to 1"),
        (lambda d: d["segments"][0].pop("version"), "segments[0].version: Field required"),
        (lambda d: d["segments"][0].update(name="Buyers!"), "segments[0].name: String should match pattern '^[a-z][a-z0-9_]{0,63}$'"),
        (lambda d: d["segments"].append(copy.deepcopy(d["segments"][0])), "segments[2].name: 'buyers' is defined twice"),
        (lambda d: d["segments"][0].update(name="revenue"), "segments[0].name: 'revenue' is a profile field"),
        (lambda d: d["tags"][0].update(event={"name": "Product Viewed"}), "tags[0]: a tag reads exactly one of event or orders"),
        (lambda d: d["custom_events"].append("Order Completed"),
         "custom_events[1]: 'Order Completed' is an E-commerce Spec event, not a custom one"),
    ],
)  # fmt: skip
def test_a_bad_definition_is_refused_naming_its_place(change: Any, expected: str) -> None:
    assert expected in _problems(change)


def test_a_cycle_between_segments_is_refused_at_the_reference_that_closes_it() -> None:
    # Given: a -> b -> c -> a, and d refers to itself
    def cycles(document: dict[str, Any]) -> None:
        document["segments"] = [
            {"name": "a", "version": 1, "where": {"all": [{"field": "revenue", "op": ">", "value": 0}, {"segment": "b"}]}},
            {"name": "b", "version": 1, "where": {"any": [{"not": {"segment": "c"}}]}},
            {"name": "c", "version": 1, "where": {"segment": "a"}},
            {"name": "d", "version": 1, "where": {"not": {"segment": "d"}}},
        ]

    # When / Then
    assert _problems(cycles) == [
        "segments[0].where.all[1].segment: cycle between segments: a -> b -> c -> a",
        "segments[3].where.not.segment: cycle between segments: d -> d",
    ]


def test_every_problem_is_reported_at_once() -> None:
    def two_faults(document: dict[str, Any]) -> None:
        _shoe_condition(document, 0).update(segment="nobody")
        _shoe_condition(document, 1).update(field="nothing")

    assert len(_problems(two_faults)) == 2


def test_conditions_nested_too_deeply_are_refused_before_they_are_walked() -> None:
    condition: dict[str, Any] = {"field": "orders_count", "op": "=", "value": 1}
    for _ in range(5000):
        condition = {"not": condition}
    with pytest.raises(InvalidDefinitions, match=r"^\(document\): objects and lists nest deeper than 64 levels$"):
        parse_document({"segments": [{"name": "deep", "version": 1, "where": condition}]})


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"segments"', '{"segments": ' + "[" * 100_000 + "]" * 100_000 + "}"])
def test_a_document_that_is_not_a_json_object_is_refused(text: str) -> None:
    with pytest.raises(InvalidDefinitions, match=r"^\(document\): "):
        parse_document_text(text)


def test_a_library_problem_names_its_file_and_its_place_there(tmp_path: Path) -> None:
    # Given: two files; the second refers to a segment of the first and has a bad window
    (tmp_path / "a.json").write_text(json.dumps({"segments": [GOOD["segments"][0]]}))
    second = {"segments": [{"name": "recent", "version": 1, "where": {"all": [
        {"segment": "buyers"}, {"orders": {"within": {"hours": 0}}}]}}]}  # fmt: skip
    (tmp_path / "b.json").write_text(json.dumps(second))
    # When
    with pytest.raises(InvalidDefinitions) as refused:
        load_library(tmp_path)
    # Then
    assert [str(problem) for problem in refused.value.problems] == [
        "b.json:segments[0].where.all[1].orders.within: a window must be positive"
    ]


def test_references_across_library_files_resolve(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"segments": [GOOD["segments"][0]]}))
    (tmp_path / "b.json").write_text(json.dumps({"segments": [{"name": "c", "version": 1, "where": {"segment": "buyers"}}]}))
    (tmp_path / "c.json").write_text(json.dumps({"segments": [{"name": "d", "version": 1, "where": {"segment": "zz"}}]}))
    with pytest.raises(InvalidDefinitions) as refused:
        load_library(tmp_path)
    assert [str(problem) for problem in refused.value.problems] == ["c.json:segments[0].where.segment: unknown segment 'zz'"]
