"""Evaluate a segment document column-wise: tags and memberships for every profile, from pyarrow tables.

Inputs: a profiles snapshot (one row per `profile_id`, columns named as vocabulary.PROFILE_FIELDS; absent columns are
all missing), tracked events (`profile_id`, `event`, `occurred_at`, one column per property) and order lines
(`profile_id`, `order_id`, `ordered_at`, `status`, the curated orders columns; only `completed` lines count).
Behaviour rows of profiles not in the snapshot are ignored.

Every condition becomes a boolean mask over the profiles, built with pyarrow compute: behaviour rows are selected by
cached masks (name, window, properties), every aggregate the document needs is computed in one filter and one
`group_by(profile_id).aggregate()` per source (with the profiles themselves), as SQL's FILTER clauses would, the two
sources on two threads, and the groups are put in profile order by the profiles' positions; nothing loops over rows
in Python. A test on a missing value is false (`not` makes it true). Tags are computed first, so segments can test
them as fields; segments are evaluated after the segments they refer to.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.segments import rfm
from cdp.segments.arrow_types import ARROW_TYPES
from cdp.segments.definitions import (
    Condition,
    CountTest,
    Duration,
    EventCondition,
    OrderCondition,
    PropertyFilter,
    SegmentDocument,
    Selection,
    SumTest,
    TagDefinition,
    segment_references,
    tag_type,
)
from cdp.segments.local_time import anniversary_in, local_today
from cdp.segments.vocabulary import PROFILE_FIELDS, RFM_FIELDS, TIME_PROPERTIES, FieldType

LEAP_DAY = date(2000, 2, 29)
KEY = "profile_id"
ORDER = "order_id"
POSITION = "position"
AggregateKey = tuple[Any, ...]
AGGREGATES = {"count": "count_distinct", "count_distinct": "count_distinct", "sum": "sum", "first": "min",
                       "last": "max"}  # fmt: skip
MICROSECONDS_PER_DAY = 86_400_000_000
COMPARED_ENTRIES = 4  # up to this many values are looked for by equality tests, not by hashing every row
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
    document: SegmentDocument, profiles: pa.Table, events: pa.Table, order_lines: pa.Table, as_of: datetime,
    population: Mapping[str, pa.ChunkedArray] | None = None,
) -> Evaluation:
    """Every tag and segment of `document` as of `as_of` (timezone-aware). `top_percent` ranks a field's values
    among `profiles`, or, for a field in `population` (`profiles` being one shard), among those values (the whole
    population's)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    context = _Context(document, profiles, events, order_lines, as_of)
    context.population = dict(population or {})
    context.plan()
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


@dataclass(frozen=True)
class BehaviourReads:
    """What a document reads of each behaviour source: its columns, and from when (None: all history kept), so a
    reader of curated Parquet can skip the other columns and the older date partitions."""

    event_columns: list[str]
    order_line_columns: list[str]
    events_since: datetime | None
    order_lines_since: datetime | None


def behaviour_reads(document: SegmentDocument, as_of: datetime) -> BehaviourReads:
    columns: dict[bool, set[str]] = {False: set(EVENT_COLUMNS), True: set(ORDER_LINE_COLUMNS)}  # by "is orders"
    windows: dict[bool, list[Duration | None]] = {False: [], True: []}

    def read(orders: bool, selection: Selection, *names: str | None) -> None:
        columns[orders].update(test.property for test in selection.where)
        columns[orders].update(name for name in names if name is not None)
        windows[orders].append(selection.within)

    def visit(condition: Condition) -> None:
        for child in (*(condition.all or ()), *(condition.any or ()), *((condition.not_,) if condition.not_ else ())):
            visit(child)
        measured = condition.event or condition.orders
        if measured is not None:
            read(condition.event is None, measured, measured.sum.property if measured.sum else None)

    for segment in document.segments:
        visit(segment.where)
    for tag in document.tags:
        kind, argument = tag.value.kind_and_argument
        selection = tag.event or tag.orders
        assert selection is not None
        if kind == "share":
            columns[tag.event is None].update(test.property for test in argument)
        read(tag.event is None, selection, argument if isinstance(argument, str) else None)

    def since(orders: bool) -> datetime | None:
        if not windows[orders] or None in windows[orders]:
            return None
        return as_of - timedelta(minutes=max(window.total_minutes for window in windows[orders] if window))

    return BehaviourReads(
        sorted(columns[False] - set(TIME_PROPERTIES)), sorted(columns[True] - set(TIME_PROPERTIES)),
        since(False), since(True),
    )


def ranked_fields(document: SegmentDocument) -> list[str]:
    """The fields a `top_percent` condition ranks the whole population by."""
    ranked: set[str] = set()

    def visit(condition: Condition) -> None:
        for child in (*(condition.all or ()), *(condition.any or ()), *((condition.not_,) if condition.not_ else ())):
            visit(child)
        if condition.op == "top_percent" and condition.field is not None:
            ranked.add(condition.field)

    for segment in document.segments:
        visit(segment.where)
    return sorted(ranked)


def top_percent_threshold(values: pa.ChunkedArray, percent: float) -> Any:
    """The least value in the top `percent` of `values` by rank (SQL RANK, highest first, nulls left out): a value is
    in the top `percent` exactly when it is at least this one (None: no value is)."""
    valid = values.filter(pc.is_valid(values))
    cutoff = float(percent) * len(valid)
    last = math.ceil(cutoff / 100.0) - 1  # the last 0-based position p with p * 100 < cutoff (as RANK compares)
    while (last + 1) * 100.0 < cutoff:
        last += 1
    while last >= 0 and last * 100.0 >= cutoff:
        last -= 1
    if last < 0 or len(valid) == 0:
        return None
    return pc.take(valid, pc.array_sort_indices(valid, order="descending"))[min(last, len(valid) - 1)].as_py()


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
            chunks.append(_spread(function(chunk.dictionary), chunk.indices))
        else:
            chunks.append(function(chunk))
    return pa.chunked_array(chunks, type=chunks[0].type if chunks else pa.bool_())


def _spread(answers: pa.Array, indices: pa.Array) -> pa.Array:
    """Each row's answer from its dictionary entry's: a true-or-false answer by the indices of the entries that hold
    it (`_one_of`: for a few entries, integer compares cost a tenth of gathering one answer per row)."""
    if not pa.types.is_boolean(answers.type) or answers.null_count:
        return pc.take(answers, indices)
    entries = pc.indices_nonzero(answers).to_pylist()
    return pc.take(answers, indices) if len(entries) > COMPARED_ENTRIES else _one_of(indices, entries)


def _one_of(values: Any, choices: list[Any]) -> Any:
    """Whether each value is one of `choices` (a missing value: missing or false): a few choices by one equality
    test each, which costs less than the hash lookup per value `is_in` makes."""
    if not choices or len(choices) > COMPARED_ENTRIES or None in choices:
        return pc.is_in(values, value_set=pa.array(choices).cast(values.type))
    return functools.reduce(pc.or_, [pc.equal(values, pa.scalar(choice).cast(values.type)) for choice in choices])


def _all(masks: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    result = masks[0]
    for mask in masks[1:]:
        result = pc.and_(result, mask)
    return result


def _true(mask: pa.ChunkedArray) -> pa.ChunkedArray:
    """Missing as false, by a Kleene AND with the mask's own validity (bitmaps; `fill_null` goes value by value and
    costs a hundred times more); a mask without missing values as it is."""
    return pc.and_kleene(mask, pc.is_valid(mask)) if mask.null_count else mask


def _list_contains(column: pa.ChunkedArray, value: str, rows: pa.Array) -> pa.ChunkedArray:
    combined = column.combine_chunks()
    parents = pc.list_parent_indices(combined)
    matching = pc.filter(parents, _true(pc.equal(pc.list_flatten(combined), value)))
    return _chunked(pc.is_in(rows, value_set=pc.cast(matching, rows.type)))


class _Behaviour:
    """One behaviour table and its cached masks (base, names, windows, property filters)."""

    def __init__(self, table: pa.Table, time_column: str, as_of: datetime) -> None:
        self.table, self.time_column, self.as_of = table, time_column, as_of
        self.keys = table["profile_id"]
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
            return self.cached("base", lambda: pc.is_valid(self.keys))
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
    if pa.types.is_null(column.type):  # an absent column: every value missing, every comparison false
        return pc.is_valid(column)
    if test.op in ("in", "not_in"):
        found = _on_values(column, lambda values: _one_of(values, test.value))
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
        if self.profile_ids.null_count:  # a profile id held twice is found where the behaviour is grouped
            raise ValueError("profiles must hold one row per profile_id")
        self.size = profiles.num_rows
        self.positions = pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int32()), self.size)), 1)
        self.missing: set[str] = set()
        self.population: dict[str, pa.ChunkedArray] = {}
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
        self.events = _Behaviour(events, "occurred_at", as_of)
        self.orders = _Behaviour(order_lines, "ordered_at", as_of)
        self._event_codes: pa.ChunkedArray | None = None
        self._pending: dict[AggregateKey, tuple[EventCondition | None, list[PropertyFilter], Duration | None]] = {}
        self._values: dict[AggregateKey, pa.ChunkedArray] = {}

    def _add_rfm_scores(self, profiles: pa.Table) -> None:
        if not set(rfm.PROFILE_SCHEMA.names) - set(rfm.OPTIONAL_COLUMNS) <= set(profiles.column_names):
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
            status = self.orders.table["status"]
            masks.append(behaviour.cached("completed", lambda: _on_values(status, lambda v: pc.equal(v, "completed"))))
        elif event.name is not None:
            name = event.name
            masks.append(
                behaviour.cached(("event", name), lambda: _on_values(self._event_names(), lambda v: pc.equal(v, name)))
            )
        masks += [behaviour.filter_mask(test) for test in where]
        return behaviour, _all(masks)

    def _request(
        self, event: EventCondition | None, where: list[PropertyFilter], within: Duration | None, kind: str,
        name: str | None = None,
    ) -> AggregateKey:
        """Ask for one per-profile aggregate of a selection (`kind`: count, count_distinct, sum, first, last)."""
        filters = tuple((test.property, test.op, repr(test.value)) for test in where)
        key = (event is None, event.name if event else None, filters, within.total_minutes if within else None, kind, name)
        if key not in self._values:
            self._pending[key] = (event, where, within)
        return key

    def _aggregate(
        self, event: EventCondition | None, where: list[PropertyFilter], within: Duration | None, kind: str,
        name: str | None = None,
    ) -> pa.ChunkedArray:
        """The aggregate, one value per profile in profile order (counts and sums 0 where no row is selected)."""
        key = self._request(event, where, within, kind, name)
        if key not in self._values:
            self._compute_pending()
        return self._values[key]

    def _compute_pending(self) -> None:
        """Every requested aggregate, as SQL's FILTER clauses do: per source, the rows selected by any of its requests
        are kept and grouped by profile id once, each aggregate reading its values where its own mask holds. The two
        sources (events, order lines) are selected and grouped concurrently, each on a thread of its own (pyarrow
        compute runs without the GIL); one grouping of both would hash the profile ids once less but keep a core idle."""
        pending = list(self._pending)
        work = [(orders, numbered) for orders in (False, True)
                if (numbered := [(number, key) for number, key in enumerate(pending) if key[0] == orders])]  # fmt: skip
        with ThreadPoolExecutor(2) as pool:  # no request at all: the profiles alone are grouped, to check their ids
            for values in pool.map(lambda source: self._source_aggregates(*source), work or [(False, [])]):
                self._values.update(values)
        for key in pending:
            del self._pending[key]

    def _source_aggregates(self, orders: bool, numbered: list[tuple[int, AggregateKey]]) -> dict[AggregateKey, Any]:
        """The requests of one source (`numbered`: their numbers in the pending list), one value per profile each in
        profile order. The profiles' own rows join the grouping with their positions, so the groups come back in
        profile order by a scatter instead of a second hash lookup of every profile id, and a profile id held twice
        shows in the same pass (two profiles in one group). Groups are built on this thread alone: the threaded hash
        aggregate builds one table per thread and merges them, which on string keys costs about twice the CPU time."""
        rows, aggregates = self._selected_rows(orders, numbered) if numbered else ([], [])
        parts = [pa.table({KEY: self.profile_ids, POSITION: self.positions}), *rows]
        grouped = pa.concat_tables(parts, promote_options="default").group_by(KEY, use_threads=False).aggregate(
            [(POSITION, "min"), *aggregates]
        )
        if grouped[f"{POSITION}_min"].null_count:  # behaviour of profiles not in the snapshot
            grouped = grouped.filter(pc.is_valid(grouped[f"{POSITION}_min"]))
        if grouped.num_rows != self.size:
            raise ValueError("profiles must hold one row per profile_id")
        positions = grouped[f"{POSITION}_min"].combine_chunks()
        values = {}
        for (_, key), (column, function) in zip(numbered, aggregates, strict=True):
            found = _chunked(pc.scatter(grouped[f"{column}_{function}"].combine_chunks(), positions,
                                        max_index=self.size - 1))  # fmt: skip
            default = {"count": 0, "count_distinct": 0, "sum": 0.0}.get(key[4])
            values[key] = found if default is None else pc.fill_null(found, default)
        return values

    def _selected_rows(
        self, orders: bool, numbered: list[tuple[int, AggregateKey]]
    ) -> tuple[list[pa.Table], list[tuple[str, str]]]:
        """The rows of one source some of its requests select, by profile id, with one column `m<number>` per request,
        and the aggregate that gives each request its value per profile from them.

        Orders are counted from one row per order (`_per_order`) when no request counts distinct property values:
        counting orders is then summing, per profile, whether each order has a selected line, instead of counting
        distinct order ids per profile and request; the other order aggregates read the lines. Each part keeps only
        its own columns of the rows it needs (no table of every column is filtered)."""
        behaviour = self.orders if orders else self.events
        by_order = orders and all(key[4] != "count_distinct" for _, key in numbered)
        keys = pc.cast(behaviour.keys, pa.string())
        counted: dict[str, Any] = {}  # orders counted from one row per order
        columns: dict[str, Any] = {KEY: keys}  # the rows other aggregates read, where one of `read` holds
        read: list[pa.ChunkedArray] = []
        aggregates: list[tuple[str, str]] = []
        values_of = functools.cache(functools.partial(_aggregated_values, behaviour))
        for number, key in numbered:
            kind, name, column = key[4], key[5], f"m{number}"
            mask = self._selection(*self._pending[key])[1]
            if kind == "count" and by_order:
                counted[column], function = pc.and_(mask, pc.is_valid(behaviour.table[ORDER])), "sum"
            elif kind == "count" and not orders:
                columns[column], function = mask, "sum"
            else:
                values = values_of(kind, name)
                columns[column], function = pc.if_else(mask, values, pa.scalar(None, values.type)), AGGREGATES[kind]
            if column in columns:
                read.append(mask)
            aggregates.append((column, function))
        parts = [_per_order(keys, behaviour.table[ORDER], counted)] if counted else []
        if read:
            parts.append(pa.table(columns).filter(functools.reduce(pc.or_, read)))
        return parts, aggregates

    def plan(self) -> None:
        """Request every aggregate the document needs, then compute them all, so the behaviour is grouped once."""
        for tag in self.document.tags:
            selection = tag.event or tag.orders
            assert selection is not None
            kind, argument = tag.value.kind_and_argument
            for request, name, where in _tag_requests(kind, argument):
                self._request(tag.event, [*selection.where, *where], selection.within, request, name)
        for segment in self.document.segments:
            self._plan_condition(segment.where)
        self._compute_pending()

    def _plan_condition(self, condition: Condition) -> None:
        for child in (*(condition.all or ()), *(condition.any or ()), *((condition.not_,) if condition.not_ else ())):
            self._plan_condition(child)
        measured = condition.event or condition.orders
        if measured is not None:
            kind, name = _measure_kind(measured)
            self._request(condition.event, measured.where, measured.within, kind, name)

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
        if kind == "today":
            assert condition.today is not None
            return self._local_day_is(condition.today.day_of_month)
        measured = condition.event or condition.orders
        assert measured is not None
        return _true(self._measure(condition.event, measured))

    def _measure(self, event: EventCondition | None, measured: EventCondition | OrderCondition) -> pa.ChunkedArray:
        kind, name = _measure_kind(measured)
        values = self._aggregate(event, measured.where, measured.within, kind, name)
        measure = measured.measure
        if isinstance(measure, CountTest | SumTest):
            return COMPARE[measure.op](values, measure.value)
        return self._time_test(values, measure.op, measure.value)

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
        if op == "anniversary_today":
            return self._anniversary_today(column)
        if op == "top_percent" and name in self.population:
            threshold = top_percent_threshold(self.population[name], float(value))
            if threshold is None:
                return pa.chunked_array([pa.repeat(False, self.size)])
            return _true(pc.greater_equal(column, pa.scalar(threshold).cast(column.type)))
        if op == "top_percent":
            ranks = pc.rank(column, sort_keys="descending", tiebreaker="min")  # nulls rank last
            valid = pc.is_valid(column)
            cutoff = float(value) * (pc.sum(valid).as_py() or 0)
            return pc.and_(valid, pc.less(pc.multiply(pc.cast(pc.subtract(ranks, 1), pa.float64()), 100.0), cutoff))
        if op in ("in", "not_in"):
            found = _one_of(column, value)
            return found if op == "in" else pc.and_(pc.is_valid(column), pc.invert(found))
        if op == "contains":
            if pa.types.is_list(column.type):
                return _list_contains(column, value, self.positions)
            return pc.match_substring(column, value)
        return COMPARE[op](column, pa.scalar(value).cast(column.type) if not pa.types.is_floating(column.type)
                           else float(value))

    def _local_day_is(self, day_of_month: int) -> pa.ChunkedArray:
        """Whether today, in each profile's time zone, is this day of the month, one test per distinct zone."""
        zones = self._field("timezone")
        result = pa.chunked_array([pa.repeat(False, self.size)])
        for name in pc.unique(zones).to_pylist():
            if local_today(self.as_of, name).day == day_of_month:
                result = pc.or_(result, _in_zone(zones, name))
        return result

    def _anniversary_today(self, days: pa.ChunkedArray) -> pa.ChunkedArray:
        """Whether each date's anniversary is today in its profile's time zone (cdp.segments.local_time), one pass
        per distinct zone."""
        zones = self._field("timezone")
        months, month_days = pc.month(days), pc.day(days)
        result = pc.is_valid(days)
        result = pc.and_(result, pc.invert(result))  # false where a date is known, missing elsewhere
        for name in pc.unique(zones).to_pylist():
            today = local_today(self.as_of, name)
            on_day = pc.and_(pc.equal(months, today.month), pc.equal(month_days, today.day))
            if anniversary_in(LEAP_DAY, today.year) == today:
                on_day = pc.or_(on_day, pc.and_(pc.equal(months, 2), pc.equal(month_days, 29)))
            result = pc.if_else(_in_zone(zones, name), on_day, result)
        return result

    # ------------------------------------------------------------------ tags

    def tag(self, tag: TagDefinition) -> pa.ChunkedArray:
        selection = tag.event or tag.orders
        assert selection is not None
        kind, argument = tag.value.kind_and_argument

        def aggregate(request: str, name: str | None = None, where: list[PropertyFilter] | None = None) -> pa.ChunkedArray:
            return self._aggregate(tag.event, [*selection.where, *(where or [])], selection.within, request, name)

        if kind in ("most_frequent", "last"):
            behaviour, mask = self._selection(tag.event, selection.where, selection.within)
            pick = self._most_frequent if kind == "most_frequent" else self._last_value
            values = pick(behaviour, mask, argument)
        elif kind == "average_gap_days":
            values = _average_gap_days(aggregate("count"), aggregate("first"), aggregate("last"))
        elif kind == "share":
            total = pc.cast(aggregate("count"), pa.float64())
            matching = pc.cast(aggregate("count", where=argument), pa.float64())
            values = pc.if_else(pc.greater(total, 0), pc.divide(matching, pc.max_element_wise(total, 1.0)), None)
        else:
            request, name = TAG_AGGREGATES[kind], argument if isinstance(argument, str) else None
            values = aggregate(request, name)
        return pc.cast(values, ARROW_TYPES[tag_type(tag, self.document)])

    def _positions(self, grouped: pa.Table) -> pa.ChunkedArray:
        """For each profile (in profile order), the row of its group in `grouped`; missing where it has none (groups
        of profiles not in the snapshot are never picked)."""
        return pc.index_in(self.profile_ids, value_set=pc.cast(grouped[KEY], pa.string()))

    def _aligned(self, grouped: pa.Table, column: str) -> pa.ChunkedArray:
        """A grouped column as one value per profile (in profile order), missing where a profile has no rows."""
        return _chunked(pc.take(grouped[column], self._positions(grouped)))

    def _most_frequent(self, behaviour: _Behaviour, mask: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
        """The value seen most often; a tie goes to the smallest value."""
        column = behaviour.column(name)
        if pa.types.is_dictionary(column.type):
            column = pc.cast(column, column.type.value_type)
        selected = pa.table({KEY: behaviour.keys, "v": column}).filter(pc.and_(mask, pc.is_valid(column)))
        counted = selected.group_by([KEY, "v"], use_threads=False).aggregate([([], "count_all")])
        ranked = counted.sort_by([(KEY, "ascending"), ("count_all", "descending"), ("v", "ascending")])
        return self._aligned(ranked.group_by(KEY, use_threads=False).aggregate([("v", "first")]), "v_first")

    def _last_value(self, behaviour: _Behaviour, mask: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
        """The value of the latest row (equal times: the largest value)."""
        column = behaviour.column(name)
        if pa.types.is_dictionary(column.type):
            column = pc.cast(column, column.type.value_type)
        selected = pa.table({KEY: behaviour.keys, "at": behaviour.time, "v": column})
        selected = selected.filter(pc.and_(mask, pc.is_valid(column)))
        ranked = selected.sort_by([(KEY, "ascending"), ("at", "ascending"), ("v", "ascending")])
        return self._aligned(ranked.group_by(KEY, use_threads=False).aggregate([("v", "last")]), "v_last")


def _per_order(keys: pa.ChunkedArray, orders: pa.ChunkedArray, counted: dict[str, pa.ChunkedArray]) -> pa.Table:
    """One row per (profile, order) of the lines some column of `counted` counts, with whether any of the order's
    lines is counted, per column. A curated file holds an order's lines together, so runs of counted lines of one
    profile and order are folded first, by position (a running count of counted lines, read at each run's ends);
    only when an order id shows in more than one run are the runs folded again by hashing profile and order ids,
    which costs about twice as much."""
    selected = functools.reduce(pc.or_, counted.values())
    if pc.sum(selected).as_py() != len(keys):  # only the columns the runs need of the lines they keep
        keys, orders = keys.filter(selected), orders.filter(selected)
        counted = {column: lines.filter(selected) for column, lines in counted.items()}
    if len(keys) == 0:
        return pa.table({KEY: keys, **counted})
    follows = [_true(pc.equal(column.slice(1), column.slice(0, len(column) - 1)))
               for column in (keys, orders)]  # fmt: skip
    starts = pa.chunked_array([pa.array([True]), *pc.invert(pc.and_(*follows)).chunks], pa.bool_())
    first_rows = pc.indices_nonzero(starts)
    ends = pa.concat_arrays([first_rows.slice(1), pa.array([len(keys)], first_rows.type)])
    runs = {KEY: keys.filter(starts), ORDER: orders.filter(starts)}
    count_type = pa.int32() if len(keys) < 2**31 else pa.int64()  # no count of lines overflows it
    for column, lines in counted.items():
        running = pc.cumulative_sum(pc.cast(lines, count_type))
        before = pa.chunked_array([pa.array([0], count_type), *running.chunks])  # counted lines before each row
        runs[column] = pc.greater(pc.subtract(pc.take(before, ends), pc.take(before, first_rows)), 0)
    per_run = pa.table(runs)
    if len(pc.unique(per_run[ORDER])) == per_run.num_rows:  # every order in one run
        return per_run.drop_columns([ORDER])
    folded = per_run.group_by([KEY, ORDER], use_threads=False).aggregate([(column, "any") for column in counted])
    return pa.table({KEY: folded[KEY], **{column: folded[f"{column}_any"] for column in counted}})


def _average_gap_days(count: pa.ChunkedArray, first: pa.ChunkedArray, last: pa.ChunkedArray) -> pa.ChunkedArray:
    """(last - first) / (occurrences - 1) in days: the mean gap between consecutive orders (or events)."""
    span = pc.cast(pc.cast(pc.subtract(last, first), pa.duration("us")), pa.int64())
    span_days = pc.divide(pc.cast(span, pa.float64()), float(MICROSECONDS_PER_DAY))
    gaps = pc.cast(pc.subtract(count, 1), pa.float64())
    return pc.if_else(pc.greater(gaps, 0), pc.divide(span_days, pc.max_element_wise(gaps, 1.0)), None)


def _measure_kind(measured: EventCondition | OrderCondition) -> tuple[str, str | None]:
    """The aggregate a behaviour condition compares: count, sum (of a property), first or last."""
    if measured.sum is not None:
        return "sum", measured.sum.property
    if measured.first is not None:
        return "first", None
    return ("last", None) if measured.last is not None else ("count", None)


def _aggregated_values(behaviour: _Behaviour, kind: str, name: str | None) -> pa.ChunkedArray:
    """The column an aggregate of `kind` reads: order ids (orders counted), a property, or the row times."""
    if kind == "count":
        return behaviour.table["order_id"]
    if kind == "count_distinct":
        return behaviour.column(str(name))
    if kind == "sum":
        return pc.cast(behaviour.column(str(name)), pa.float64())
    return behaviour.time


def _tag_requests(kind: str, argument: Any) -> list[tuple[str, str | None, list[PropertyFilter]]]:
    """The aggregates a tag's value is computed from: (aggregate, property, extra filters) each."""
    if kind in ("most_frequent", "last"):
        return []  # picked from sorted rows, not aggregated
    if kind == "average_gap_days":
        return [("count", None, []), ("first", None, []), ("last", None, [])]
    if kind == "share":
        return [("count", None, []), ("count", None, argument)]
    return [(TAG_AGGREGATES[kind], argument if isinstance(argument, str) else None, [])]


TAG_AGGREGATES = {"count": "count", "count_distinct": "count_distinct", "sum": "sum", "first_at": "first",
                  "last_at": "last"}  # fmt: skip


def _in_zone(zones: pa.ChunkedArray, name: str | None) -> pa.ChunkedArray:
    """Which profiles keep their calendar in this time zone (None: those with no zone, read as UTC)."""
    return pc.is_null(zones) if name is None else _true(pc.equal(zones, name))
