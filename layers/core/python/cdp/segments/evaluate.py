"""Evaluate a segment document column-wise: tags and memberships for every profile, from pyarrow tables.

Inputs: a profiles snapshot (one row per `profile_id`, columns named as vocabulary.PROFILE_FIELDS; absent columns are
all missing), tracked events (`profile_id`, `event`, `occurred_at`, one column per property) and order lines
(`profile_id`, `order_id`, `ordered_at`, `status`, the curated orders columns; only `completed` lines count).
Behaviour rows of profiles not in the snapshot are ignored.

Every condition becomes a boolean mask over the profiles, built with pyarrow compute: behaviour is filtered by
masks (name, window, properties), grouped by profile with `group_by().aggregate()`, and aligned to the profiles by
a hash lookup of their positions; nothing loops over rows in Python. A test on a missing value is false (`not`
makes it true). Tags are computed first, so segments can test them as fields; segments are evaluated after the
segments they refer to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.segments import rfm
from cdp.segments.definitions import (
    Condition,
    CountTest,
    Duration,
    EventCondition,
    OrderCondition,
    PropertyFilter,
    SegmentDocument,
    SumTest,
    TagDefinition,
    segment_references,
    tag_type,
)
from cdp.segments.vocabulary import ARROW_TYPES, PROFILE_FIELDS, RFM_FIELDS, TIME_PROPERTIES, FieldType

ROW = "_row"
MICROSECONDS_PER_DAY = 86_400_000_000
EVENT_COLUMNS = ("profile_id", "event", "occurred_at")
ORDER_LINE_COLUMNS = ("profile_id", "order_id", "ordered_at", "status")

COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal,
}  # fmt: skip


@dataclass
class Evaluation:
    """Who is in each segment and each profile's tag values, as one run computed them."""

    profile_ids: pa.ChunkedArray
    masks: dict[str, pa.ChunkedArray]
    tags: pa.Table
    order: list[str]
    missing_columns: list[str] = field(default_factory=list)

    def members(self, segment: str) -> pa.ChunkedArray:
        return self.profile_ids.filter(self.masks[segment])

    def sizes(self) -> dict[str, int]:
        return {name: pc.sum(mask).as_py() or 0 for name, mask in self.masks.items()}


def evaluate(
    document: SegmentDocument, profiles: pa.Table, events: pa.Table, order_lines: pa.Table, as_of: datetime
) -> Evaluation:
    """Every tag and segment of `document` as of `as_of` (timezone-aware)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    context = _Context(document, profiles, events, order_lines, as_of)
    tags = {tag.name: context.tag(tag) for tag in document.tags}
    for tag in document.tags:
        context.fields[tag.name] = tags[tag.name]
    order = evaluation_order(document)
    masks: dict[str, pa.ChunkedArray] = {}
    for name in order:
        masks[name] = context.condition(document.segment(name).where, masks)
    return Evaluation(
        profile_ids=context.profile_ids,
        masks={segment.name: masks[segment.name] for segment in document.segments},
        tags=pa.table({"profile_id": context.profile_ids, **tags}),
        order=order,
        missing_columns=sorted(context.missing | context.events.missing | context.orders.missing),
    )


def evaluation_order(document: SegmentDocument) -> list[str]:
    """Segment names, each after every segment it refers to, otherwise in definition order (no cycles: validated)."""
    order: list[str] = []

    def place(name: str) -> None:
        if name in order:
            return
        for reference in segment_references(document.segment(name).where):
            place(reference)
        order.append(name)

    for segment in document.segments:
        place(segment.name)
    return order


def _chunked(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])


def _on_values(column: pa.ChunkedArray, function: Callable[[pa.Array], pa.Array]) -> pa.ChunkedArray:
    """`function` over each chunk; on a dictionary chunk, over its dictionary only, spread back by its indices."""
    chunks = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            chunks.append(pc.take(function(chunk.dictionary), chunk.indices))
        else:
            chunks.append(function(chunk))
    return pa.chunked_array(chunks, type=chunks[0].type if chunks else pa.bool_())


def _all(masks: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    result = masks[0]
    for mask in masks[1:]:
        result = pc.and_(result, mask)
    return result


def _true(mask: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.fill_null(mask, False)


def _list_contains(column: pa.ChunkedArray, value: str, rows: pa.Array) -> pa.ChunkedArray:
    combined = column.combine_chunks()
    parents = pc.list_parent_indices(combined)
    matching = pc.filter(parents, _true(pc.equal(pc.list_flatten(combined), value)))
    return _chunked(pc.is_in(rows, value_set=pc.cast(matching, rows.type)))


class _Behaviour:
    """One behaviour table with each row's profile position, and cached masks (base, names, windows)."""

    def __init__(self, table: pa.Table, time_column: str, profile_ids: pa.ChunkedArray, as_of: datetime) -> None:
        self.table, self.time_column, self.as_of = table, time_column, as_of
        self.rows = pc.index_in(table["profile_id"], value_set=profile_ids)
        self.time = pc.cast(table[time_column], ARROW_TYPES["timestamp"])
        self._masks: dict[Any, pa.ChunkedArray] = {}
        self.missing: set[str] = set()

    def cached(self, key: Any, build: Callable[[], pa.ChunkedArray]) -> pa.ChunkedArray:
        if key not in self._masks:
            self._masks[key] = _true(build())
        return self._masks[key]

    def column(self, name: str) -> pa.ChunkedArray:
        if name in TIME_PROPERTIES:
            return self.time_property(name)
        if name not in self.table.column_names:
            self.missing.add(f"{self.time_column}:{name}")
            return pa.chunked_array([pa.nulls(self.table.num_rows)])
        return self.table[name]

    def time_property(self, name: str) -> pa.ChunkedArray:
        if name == "hour_of_day":
            return pc.hour(self.time)
        return pc.day_of_week(self.time, count_from_zero=False, week_start=1)

    def window(self, within: Duration | None) -> pa.ChunkedArray:
        if within is None:
            return self.cached("base", lambda: pc.is_valid(self.rows))
        start = self.as_of - timedelta(minutes=within.total_minutes)

        def build() -> pa.ChunkedArray:
            scalar = pa.scalar(start, self.time.type), pa.scalar(self.as_of, self.time.type)
            in_window = pc.and_(pc.greater_equal(self.time, scalar[0]), pc.less_equal(self.time, scalar[1]))
            return pc.and_(self.window(None), in_window)

        return self.cached(("window", within.total_minutes), build)

    def filter_mask(self, test: PropertyFilter) -> pa.ChunkedArray:
        return self.cached(("filter", test.property, test.op, repr(test.value)), lambda: _property_mask(self, test))


def _property_mask(behaviour: _Behaviour, test: PropertyFilter) -> pa.ChunkedArray:
    column = behaviour.column(test.property)
    if test.op == "exists":
        return pc.is_valid(column)
    if test.op == "missing":
        return pc.is_null(column)
    if test.op in ("in", "not_in"):
        value_set = pa.array(test.value)
        found = _on_values(column, lambda values: pc.is_in(values, value_set=value_set.cast(values.type)))
        return found if test.op == "in" else pc.and_(pc.is_valid(column), pc.invert(found))
    if test.op == "contains":
        return _on_values(column, lambda values: pc.match_substring(values, test.value))
    compare = COMPARE[test.op]
    return _on_values(column, lambda values: compare(values, pa.scalar(test.value).cast(values.type)))


class _Context:
    def __init__(
        self, document: SegmentDocument, profiles: pa.Table, events: pa.Table, order_lines: pa.Table, as_of: datetime
    ) -> None:
        self.document, self.as_of = document, as_of
        self.profile_ids = _chunked(pc.cast(profiles["profile_id"], pa.string()))
        if pc.count_distinct(self.profile_ids).as_py() != profiles.num_rows:
            raise ValueError("profiles must hold one row per profile_id")
        self.size = profiles.num_rows
        self.positions = pa.array(np.arange(self.size, dtype=np.int32))
        self.missing: set[str] = set()
        self.fields: dict[str, pa.ChunkedArray] = {}
        for name, field_type in PROFILE_FIELDS.items():
            if name in profiles.column_names:
                self.fields[name] = _chunked(pc.cast(profiles[name], ARROW_TYPES[field_type]))
        if any(name not in self.fields for name in RFM_FIELDS):
            self._add_rfm_scores(profiles)
        for name, columns in (("events", EVENT_COLUMNS), ("order_lines", ORDER_LINE_COLUMNS)):
            table = events if name == "events" else order_lines
            absent = [column for column in columns if column not in table.column_names]
            if absent:
                raise ValueError(f"{name} lacks the columns {absent}")
        self.events = _Behaviour(events, "occurred_at", self.profile_ids, as_of)
        self.orders = _Behaviour(order_lines, "ordered_at", self.profile_ids, as_of)
        self._event_codes: pa.ChunkedArray | None = None

    def _add_rfm_scores(self, profiles: pa.Table) -> None:
        if not set(rfm.PROFILE_SCHEMA.names) <= set(profiles.column_names):
            return  # no scores: conditions on them see missing values
        scored = rfm.score_profiles(profiles, self.as_of)
        for name, field_type in RFM_FIELDS.items():
            self.fields.setdefault(name, _chunked(pc.cast(scored[name], ARROW_TYPES[field_type])))

    # ------------------------------------------------------------------ selections of behaviour rows

    def _event_names(self) -> pa.ChunkedArray:
        if self._event_codes is None:
            names = self.events.table["event"]
            self._event_codes = names if pa.types.is_dictionary(names.type) else pc.dictionary_encode(names)
        return self._event_codes

    def _selection(
        self, event: EventCondition | None, where: list[PropertyFilter], within: Duration | None
    ) -> tuple[_Behaviour, pa.ChunkedArray]:
        behaviour = self.orders if event is None else self.events
        masks = [behaviour.window(within)]
        if event is None:
            masks.append(behaviour.cached("completed", lambda: pc.equal(self.orders.table["status"], "completed")))
        elif event.name is not None:
            name = event.name
            masks.append(
                behaviour.cached(("event", name), lambda: _on_values(self._event_names(), lambda v: pc.equal(v, name)))
            )
        masks += [behaviour.filter_mask(test) for test in where]
        return behaviour, _all(masks)

    def _grouped(
        self, behaviour: _Behaviour, mask: pa.ChunkedArray, columns: dict[str, pa.ChunkedArray], aggregates: list[Any]
    ) -> pa.Table:
        selected = pa.table({ROW: behaviour.rows, **columns}).filter(mask)
        return selected.group_by(ROW).aggregate(aggregates)

    def _aligned(self, grouped: pa.Table, column: str, default: Any = None) -> pa.ChunkedArray:
        """A grouped column as one value per profile (in profile order); `default` where a profile has no rows."""
        positions = pc.index_in(self.positions, value_set=grouped[ROW])
        values = _chunked(pc.take(grouped[column], positions))
        return values if default is None else pc.fill_null(values, default)

    def _count(self, behaviour: _Behaviour, mask: pa.ChunkedArray, orders: bool) -> pa.ChunkedArray:
        if orders:
            grouped = self._grouped(behaviour, mask, {"order_id": behaviour.table["order_id"]},
                                    [("order_id", "count_distinct")])
            return self._aligned(grouped, "order_id_count_distinct", 0)
        grouped = self._grouped(behaviour, mask, {}, [([], "count_all")])
        return self._aligned(grouped, "count_all", 0)

    def _time_bound(self, behaviour: _Behaviour, mask: pa.ChunkedArray, first: bool) -> pa.ChunkedArray:
        aggregate = "min" if first else "max"
        grouped = self._grouped(behaviour, mask, {"at": behaviour.time}, [("at", aggregate)])
        return self._aligned(grouped, f"at_{aggregate}")

    def _sum(self, behaviour: _Behaviour, mask: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
        values = pc.cast(behaviour.column(name), pa.float64())
        grouped = self._grouped(behaviour, mask, {"v": values}, [("v", "sum")])
        return self._aligned(grouped, "v_sum", 0.0)

    # ------------------------------------------------------------------ conditions

    def condition(self, condition: Condition, segments: dict[str, pa.ChunkedArray]) -> pa.ChunkedArray:
        kind = condition.kind
        if kind == "all":
            return _all([self.condition(child, segments) for child in condition.all or ()])
        if kind == "any":
            result = None
            for child in condition.any or ():
                mask = self.condition(child, segments)
                result = mask if result is None else pc.or_(result, mask)
            assert result is not None
            return result
        if kind == "not":
            assert condition.not_ is not None
            return pc.invert(self.condition(condition.not_, segments))
        if kind == "segment":
            assert condition.segment is not None
            return segments[condition.segment]
        if kind == "field":
            assert condition.field is not None and condition.op is not None
            return _true(self._field_mask(condition.field, condition.op, condition.value))
        measured = condition.event or condition.orders
        assert measured is not None
        behaviour, mask = self._selection(condition.event, measured.where, measured.within)
        return _true(self._measure(behaviour, mask, measured, condition.event is None))

    def _measure(
        self, behaviour: _Behaviour, mask: pa.ChunkedArray, measured: EventCondition | OrderCondition, orders: bool
    ) -> pa.ChunkedArray:
        measure = measured.measure
        if isinstance(measure, CountTest):
            return COMPARE[measure.op](self._count(behaviour, mask, orders), measure.value)
        if isinstance(measure, SumTest):
            return COMPARE[measure.op](self._sum(behaviour, mask, measure.property), measure.value)
        moments = self._time_bound(behaviour, mask, first=measured.first is not None)
        return self._time_test(moments, measure.op, measure.value)

    def _time_test(self, moments: pa.ChunkedArray, op: str, duration: Duration) -> pa.ChunkedArray:
        delta = timedelta(minutes=duration.total_minutes)
        if pa.types.is_date(moments.type):
            today = self.as_of.date()
            start, end, now = (pa.scalar(day, pa.date32()) for day in (today - delta, today + delta, today))
        else:
            start, end, now = (pa.scalar(moment, moments.type) for moment in
                               (self.as_of - delta, self.as_of + delta, self.as_of))
        if op == "within_last":
            return pc.and_(pc.greater_equal(moments, start), pc.less_equal(moments, now))
        if op == "more_than_ago":
            return pc.less(moments, start)
        return pc.and_(pc.greater(moments, now), pc.less_equal(moments, end))  # within_next

    def _field(self, name: str) -> pa.ChunkedArray:
        if name not in self.fields:
            self.missing.add(name)
            field_type: FieldType = PROFILE_FIELDS[name]
            self.fields[name] = pa.chunked_array([pa.nulls(self.size, ARROW_TYPES[field_type])])
        return self.fields[name]

    def _field_mask(self, name: str, op: str, value: Any) -> pa.ChunkedArray:
        column = self._field(name)
        if op == "exists":
            return pc.is_valid(column)
        if op == "missing":
            return pc.is_null(column)
        if op in ("within_last", "more_than_ago", "within_next"):
            return self._time_test(column, op, Duration.model_validate(value))
        if op == "this_month":
            return pc.equal(pc.month(column), self.as_of.month)
        if op == "top_percent":
            ranks = pc.rank(column, sort_keys="descending", tiebreaker="min")  # nulls rank last
            valid = pc.is_valid(column)
            cutoff = float(value) * (pc.sum(valid).as_py() or 0)
            return pc.and_(valid, pc.less(pc.multiply(pc.cast(pc.subtract(ranks, 1), pa.float64()), 100.0), cutoff))
        if op in ("in", "not_in"):
            found = pc.is_in(column, value_set=pa.array(value).cast(column.type))
            return found if op == "in" else pc.and_(pc.is_valid(column), pc.invert(found))
        if op == "contains":
            if pa.types.is_list(column.type):
                return _list_contains(column, value, self.positions)
            return pc.match_substring(column, value)
        return COMPARE[op](column, pa.scalar(value).cast(column.type) if not pa.types.is_floating(column.type)
                           else float(value))

    # ------------------------------------------------------------------ tags

    def tag(self, tag: TagDefinition) -> pa.ChunkedArray:
        selection = tag.event or tag.orders
        assert selection is not None
        orders = tag.event is None
        behaviour, mask = self._selection(tag.event, selection.where, selection.within)
        kind, argument = tag.value.kind_and_argument
        result_type = ARROW_TYPES[tag_type(tag, self.document)]
        if kind == "count":
            values = self._count(behaviour, mask, orders)
        elif kind == "count_distinct":
            grouped = self._grouped(behaviour, mask, {"v": behaviour.column(argument)}, [("v", "count_distinct")])
            values = self._aligned(grouped, "v_count_distinct", 0)
        elif kind == "sum":
            values = self._sum(behaviour, mask, argument)
        elif kind in ("first_at", "last_at"):
            values = self._time_bound(behaviour, mask, first=kind == "first_at")
        elif kind == "most_frequent":
            values = self._most_frequent(behaviour, mask, argument)
        elif kind == "last":
            values = self._last_value(behaviour, mask, argument)
        elif kind == "average_gap_days":
            values = self._average_gap_days(behaviour, mask, orders)
        else:
            values = self._share(behaviour, mask, argument)
        return pc.cast(values, result_type)

    def _most_frequent(self, behaviour: _Behaviour, mask: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
        """The value seen most often; a tie goes to the smallest value."""
        column = behaviour.column(name)
        if pa.types.is_dictionary(column.type):
            column = pc.cast(column, column.type.value_type)
        selected = pa.table({ROW: behaviour.rows, "v": column}).filter(pc.and_(mask, pc.is_valid(column)))
        counted = selected.group_by([ROW, "v"]).aggregate([([], "count_all")])
        ranked = counted.sort_by([(ROW, "ascending"), ("count_all", "descending"), ("v", "ascending")])
        return self._aligned(ranked.group_by(ROW, use_threads=False).aggregate([("v", "first")]), "v_first")

    def _last_value(self, behaviour: _Behaviour, mask: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
        """The value of the latest row (equal times: the largest value)."""
        column = behaviour.column(name)
        if pa.types.is_dictionary(column.type):
            column = pc.cast(column, column.type.value_type)
        selected = pa.table({ROW: behaviour.rows, "at": behaviour.time, "v": column})
        selected = selected.filter(pc.and_(mask, pc.is_valid(column)))
        ranked = selected.sort_by([(ROW, "ascending"), ("at", "ascending"), ("v", "ascending")])
        return self._aligned(ranked.group_by(ROW, use_threads=False).aggregate([("v", "last")]), "v_last")

    def _average_gap_days(self, behaviour: _Behaviour, mask: pa.ChunkedArray, orders: bool) -> pa.ChunkedArray:
        """(last - first) / (occurrences - 1) in days: the mean gap between consecutive orders (or events)."""
        count = self._count(behaviour, mask, orders)
        first, last = (self._time_bound(behaviour, mask, first=first) for first in (True, False))
        span_days = pc.divide(pc.cast(pc.cast(pc.subtract(last, first), pa.duration("us")), pa.int64()).cast(pa.float64()),
                              float(MICROSECONDS_PER_DAY))
        gaps = pc.cast(pc.subtract(count, 1), pa.float64())
        return pc.if_else(pc.greater(gaps, 0), pc.divide(span_days, pc.max_element_wise(gaps, 1.0)), None)

    def _share(self, behaviour: _Behaviour, mask: pa.ChunkedArray, where: list[PropertyFilter]) -> pa.ChunkedArray:
        """The fraction of the selected rows that also pass `where`; missing when nothing is selected."""
        total = pc.cast(self._count(behaviour, mask, orders=False), pa.float64())
        matching = pc.cast(
            self._count(behaviour, _all([mask, *(behaviour.filter_mask(test) for test in where)]), orders=False),
            pa.float64(),
        )
        return pc.if_else(pc.greater(total, 0), pc.divide(matching, pc.max_element_wise(total, 1.0)), None)
