"""Segment and tag definitions as data: pydantic models of the language, and the checks that refuse bad definitions.

A document (one JSON file, or what the API stores) holds `tags` (a value per profile) and `segments` (who is in).
`parse_document` validates its shape with pydantic and then its meaning against the vocabulary (known fields,
event names and properties, operators that fit the field's type, windows within retention, segment references
that exist and form no cycle). Every problem is reported with the JSON path of its place, for example
`segments[3].where.all[1].event.within: a window must be positive`. See docs/segments.md for the language.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cdp.segments.vocabulary import (
    ECOMMERCE_EVENTS,
    EVENT_PROPERTIES,
    ORDER_LINE_PROPERTIES,
    PROFILE_FIELDS,
    FieldType,
)

RETENTION_DAYS = 730  # behaviour older than this is not kept for segments: no window may reach further
MAX_DEPTH = 64  # JSON nesting; a condition tree nests about three levels per all / any / not
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
DEFINITIONS_DIRECTORY = Path(__file__).with_name("definitions")

Operator = Literal[
    "=", "!=", "<", "<=", ">", ">=", "in", "not_in", "contains", "exists", "missing",
    "top_percent", "within_last", "more_than_ago", "within_next", "this_month", "anniversary_today",
]  # fmt: skip
NumberOperator = Literal["=", "!=", "<", "<=", ">", ">="]
TimeOperator = Literal["within_last", "more_than_ago"]

ORDERED = ("=", "!=", "<", "<=", ">", ">=")
OPERATORS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "string": ("=", "!=", "in", "not_in", "contains", "exists", "missing"),
    "integer": (*ORDERED, "in", "not_in", "exists", "missing", "top_percent"),
    "number": (*ORDERED, "exists", "missing", "top_percent"),
    "boolean": ("=", "!=", "exists", "missing"),
    "timestamp": ("within_last", "more_than_ago", "within_next", "exists", "missing"),
    "date": ("within_last", "more_than_ago", "within_next", "this_month", "anniversary_today", "exists", "missing"),
    "list": ("contains", "exists", "missing"),
}
PROPERTY_OPERATORS = (*ORDERED, "in", "not_in", "contains", "exists", "missing")  # behaviour property filters
DURATION_OPERATORS = ("within_last", "more_than_ago", "within_next")
NO_VALUE_OPERATORS = ("exists", "missing", "this_month", "anniversary_today")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Duration(_Strict):
    """A length of time; its total must be positive and at most RETENTION_DAYS."""

    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0

    @property
    def total_minutes(self) -> int:
        return ((self.weeks * 7 + self.days) * 24 + self.hours) * 60 + self.minutes

    @model_validator(mode="after")
    def _possible(self) -> Duration:
        if min(self.weeks, self.days, self.hours, self.minutes) < 0 or self.total_minutes <= 0:
            raise ValueError("a window must be positive")
        if self.total_minutes > RETENTION_DAYS * 24 * 60:
            raise ValueError(f"a window may not reach beyond the {RETENTION_DAYS} days behaviour is kept")
        return self


class PropertyFilter(_Strict):
    """A test on one property of an event or order line: `{"property": "category", "op": "=", "value": "shoes"}`."""

    property: str
    op: Operator
    value: Any = None


class CountTest(_Strict):
    op: NumberOperator = ">="
    value: int = Field(1, ge=0)


class SumTest(_Strict):
    property: str
    op: NumberOperator
    value: float


class TimeTest(_Strict):
    op: TimeOperator
    value: Duration


class Selection(_Strict):
    """Which behaviour rows count: property filters and a window ending at the evaluation time (none: all kept)."""

    where: list[PropertyFilter] = []
    within: Duration | None = None


class _Measured(Selection):
    """A behaviour condition: at most one of count, sum, first, last (none means count >= 1)."""

    count: CountTest | None = None
    sum: SumTest | None = None
    first: TimeTest | None = None
    last: TimeTest | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> _Measured:
        if sum(test is not None for test in (self.count, self.sum, self.first, self.last)) > 1:
            raise ValueError("a behaviour condition has at most one of count, sum, first, last")
        return self

    @property
    def measure(self) -> CountTest | SumTest | TimeTest:
        return self.count or self.sum or self.first or self.last or CountTest()


class EventCondition(_Measured):
    """Tracked events named `name` (an E-commerce Spec v2 name or a declared custom one); no name: any event."""

    name: str | None = None


class OrderCondition(_Measured):
    """Completed order lines; `count` counts distinct orders."""


CONDITION_KINDS = ("all", "any", "not", "field", "segment", "event", "orders", "today")


class CalendarDay(_Strict):
    """Today, in the customer's own time zone (local midnight to local midnight), is this day of the month (a day
    a month lacks, such as the 31st in April, is never today)."""

    day_of_month: int = Field(ge=1, le=31)


class Condition(_Strict):
    """Exactly one of: all / any (lists of conditions), not, field (with op and value), segment, event, orders,
    today (a calendar day in the customer's time zone)."""

    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(None, alias="not")
    field: str | None = None
    op: Operator | None = None
    value: Any = None
    segment: str | None = None
    event: EventCondition | None = None
    orders: OrderCondition | None = None
    today: CalendarDay | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [kind for kind in CONDITION_KINDS if getattr(self, "not_" if kind == "not" else kind) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a condition has exactly one of {', '.join(CONDITION_KINDS)} (found {kinds or 'none'})")
        if kinds[0] == "field" and self.op is None:
            raise ValueError("a field condition needs an op")
        if kinds[0] != "field" and (self.op is not None or self.value is not None):
            raise ValueError("op and value belong to a field condition")
        if kinds[0] in ("all", "any") and not getattr(self, kinds[0]):
            raise ValueError(f"{kinds[0]} needs at least one condition")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in CONDITION_KINDS if getattr(self, "not_" if kind == "not" else kind) is not None)


class TagValue(_Strict):
    """How a tag's value is computed from the selected rows: exactly one of these."""

    count: Literal[True] | None = None
    count_distinct: str | None = None
    sum: str | None = None
    first_at: Literal[True] | None = None
    last_at: Literal[True] | None = None
    most_frequent: str | None = None
    last: str | None = None
    average_gap_days: Literal[True] | None = None
    share: list[PropertyFilter] | None = None

    @model_validator(mode="after")
    def _one_value(self) -> TagValue:
        if len(self.model_fields_set) != 1 or self.kind_and_argument[1] is None:
            raise ValueError(f"a tag value has exactly one of {', '.join(type(self).model_fields)}")
        return self

    @property
    def kind_and_argument(self) -> tuple[str, Any]:
        kind = next(iter(self.model_fields_set))
        return kind, getattr(self, kind)


class _Definition(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    description: str = ""


class SegmentDefinition(_Definition):
    """A rule segment: the profiles for which `where` holds."""

    where: Condition


class TagDefinition(_Definition):
    """A computed tag: one value per profile from its events or its completed order lines."""

    event: EventCondition | None = None
    orders: Selection | None = None
    value: TagValue

    @model_validator(mode="after")
    def _one_source(self) -> TagDefinition:
        if (self.event is None) == (self.orders is None):
            raise ValueError("a tag reads exactly one of event or orders")
        if self.event is not None and self.event.model_fields_set & {"count", "sum", "first", "last"}:
            raise ValueError("a tag's event selects rows; its value says what to compute")
        return self


class SegmentDocument(_Strict):
    """One definition file: custom vocabulary, tags and segments."""

    custom_events: list[str] = []
    custom_properties: dict[str, FieldType] = {}
    tags: list[TagDefinition] = []
    segments: list[SegmentDefinition] = []

    def segment(self, name: str) -> SegmentDefinition:
        return next(segment for segment in self.segments if segment.name == name)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidDefinitions(ValueError):
    """Definitions that cannot be evaluated; `problems` names each place (a JSON path) and what is wrong there."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def json_path(location: Sequence[int | str]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _shape_problems(error: ValidationError) -> list[Problem]:
    problems = []
    for detail in error.errors():
        message = "unknown key" if detail["type"] == "extra_forbidden" else detail["msg"].removeprefix("Value error, ")
        problems.append(Problem(json_path(detail["loc"]) or "(document)", message))
    return problems


def _depth(document: Any) -> int:
    """How deeply objects and lists nest in a JSON value (counted without recursion)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _shaped(document: Any) -> SegmentDocument:
    """The document as models, its shape checked (not yet its meaning)."""
    if not isinstance(document, dict):
        raise InvalidDefinitions([Problem("(document)", "a definition document is a JSON object")])
    if _depth(document) > MAX_DEPTH:
        raise InvalidDefinitions([Problem("(document)", f"objects and lists nest deeper than {MAX_DEPTH} levels")])
    try:
        return SegmentDocument.model_validate(document)
    except ValidationError as error:
        raise InvalidDefinitions(_shape_problems(error)) from None


def parse_document(document: Any) -> SegmentDocument:
    """The validated document, or InvalidDefinitions naming every problem found."""
    parsed = _shaped(document)
    problems = _Checker(parsed).problems()
    if problems:
        raise InvalidDefinitions(problems)
    return parsed


def _json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidDefinitions([Problem("(document)", f"not JSON: {error}")]) from None
    except RecursionError:
        raise InvalidDefinitions([Problem("(document)", f"objects and lists nest deeper than {MAX_DEPTH} levels")]) from None


def parse_document_text(text: str) -> SegmentDocument:
    return parse_document(_json_object(text))


def load_library(directory: Path = DEFINITIONS_DIRECTORY) -> SegmentDocument:
    """Every `*.json` file of `directory` as one document (names unique across files, references across files);
    a problem's path starts with its file's name."""
    merged: dict[str, list[Any]] = {"custom_events": [], "tags": [], "segments": []}
    properties: dict[str, Any] = {}
    origins: list[tuple[str, str, int]] = []  # (list name, file name, index in file) per merged entry
    for path in sorted(directory.glob("*.json")):
        try:
            document = _shaped(_json_object(path.read_text(encoding="utf-8")))
        except InvalidDefinitions as error:
            raise InvalidDefinitions([Problem(f"{path.name}:{p.path}", p.message) for p in error.problems]) from None
        merged["custom_events"] += document.custom_events
        properties.update(document.custom_properties)
        for list_name in ("tags", "segments"):
            entries = getattr(document, list_name)
            merged[list_name] += [entry.model_dump(by_alias=True, exclude_unset=True) for entry in entries]
            origins += [(list_name, path.name, index) for index in range(len(entries))]
    try:
        return parse_document({**merged, "custom_properties": properties})
    except InvalidDefinitions as error:
        raise InvalidDefinitions([_in_file(problem, merged, origins) for problem in error.problems]) from None


def merge_documents(document: SegmentDocument, addition: Any) -> SegmentDocument:
    """`document` with the tags, segments and custom vocabulary of `addition` (a JSON object), validated together:
    InvalidDefinitions if the addition is bad on its own or clashes with the document (a name defined twice)."""
    more = _shaped(addition).model_dump(by_alias=True, exclude_unset=True)
    merged = document.model_dump(by_alias=True, exclude_unset=True)
    for list_name in ("custom_events", "tags", "segments"):  # the addition's first: problems keep its own paths
        merged[list_name] = [*more.get(list_name, []), *merged.get(list_name, [])]
    merged["custom_properties"] = {**merged.get("custom_properties", {}), **more.get("custom_properties", {})}
    return parse_document(merged)


def _in_file(problem: Problem, merged: dict[str, list[Any]], origins: list[tuple[str, str, int]]) -> Problem:
    """A merged document's problem placed in the file (and index there) its entry came from."""
    for list_name in ("tags", "segments"):
        prefix = f"{list_name}["
        if problem.path.startswith(prefix):
            index_text, rest = problem.path[len(prefix) :].split("]", 1)
            offset = 0 if list_name == "tags" else len(merged["tags"])
            _, file_name, index = origins[offset + int(index_text)]
            return Problem(f"{file_name}:{list_name}[{index}]{rest}", problem.message)
    return problem


def tag_type(tag: TagDefinition, document: SegmentDocument) -> FieldType:
    """The type of a tag's values (a property-valued tag has its property's type)."""
    kind, argument = tag.value.kind_and_argument
    if kind in ("count", "count_distinct"):
        return "integer"
    if kind in ("first_at", "last_at"):
        return "timestamp"
    if kind in ("most_frequent", "last"):
        return _properties(tag.event is not None, document).get(argument, "string")
    return "number"


def _properties(events: bool, document: SegmentDocument) -> dict[str, FieldType]:
    return {**EVENT_PROPERTIES, **document.custom_properties} if events else ORDER_LINE_PROPERTIES


def segment_references(condition: Condition) -> Iterator[str]:
    """The names of the segments a condition refers to, at any depth."""
    if condition.segment is not None:
        yield condition.segment
    for child in (*(condition.all or ()), *(condition.any or ()), *((condition.not_,) if condition.not_ else ())):
        yield from segment_references(child)


class _Checker:
    """The meaning checks of a well-shaped document, each problem with its JSON path."""

    def __init__(self, document: SegmentDocument) -> None:
        self.document = document
        self.found: list[Problem] = []
        self.events = ECOMMERCE_EVENTS | set(document.custom_events)
        self.fields: dict[str, FieldType] = dict(PROFILE_FIELDS)

    def problems(self) -> list[Problem]:
        self._names()
        for index, tag in enumerate(self.document.tags):
            self._tag(tag, f"tags[{index}]")
            self.fields.setdefault(tag.name, tag_type(tag, self.document))
        for index, segment in enumerate(self.document.segments):
            self._condition(segment.where, f"segments[{index}].where")
        self._cycles()
        return self.found

    def _problem(self, path: str, message: str) -> None:
        self.found.append(Problem(path, message))

    def _names(self) -> None:
        for index, name in enumerate(self.document.custom_events):
            if name in ECOMMERCE_EVENTS:
                self._problem(f"custom_events[{index}]", f"{name!r} is an E-commerce Spec event, not a custom one")
        for name in self.document.custom_properties:
            if name in EVENT_PROPERTIES:
                self._problem(f"custom_properties.{name}", "is a spec property already")
        seen: set[str] = set()
        for list_name in ("tags", "segments"):
            for index, definition in enumerate(getattr(self.document, list_name)):
                if definition.name in seen:
                    self._problem(f"{list_name}[{index}].name", f"{definition.name!r} is defined twice")
                elif definition.name in PROFILE_FIELDS:
                    self._problem(f"{list_name}[{index}].name", f"{definition.name!r} is a profile field")
                seen.add(definition.name)

    def _tag(self, tag: TagDefinition, path: str) -> None:
        events = tag.event is not None
        if tag.event is not None:
            self._event_name(tag.event.name, f"{path}.event.name")
        selection = tag.event or tag.orders
        assert selection is not None
        self._filters(selection.where, _properties(events, self.document), f"{path}.{'event' if events else 'orders'}")
        kind, argument = tag.value.kind_and_argument
        properties = _properties(events, self.document)
        if kind == "share":
            self._filters(argument, properties, f"{path}.value", key="share")
        elif isinstance(argument, str):
            if argument not in properties:
                self._problem(f"{path}.value.{kind}", f"unknown property {argument!r}")
            elif kind == "sum" and properties[argument] not in ("integer", "number"):
                self._problem(f"{path}.value.{kind}", f"sum needs a number property, {argument!r} is {properties[argument]}")

    def _event_name(self, name: str | None, path: str) -> None:
        if name is not None and name not in self.events:
            self._problem(path, f"unknown event {name!r}: not an E-commerce Spec v2 event nor a declared custom_events name")

    def _filters(self, filters: list[PropertyFilter], properties: dict[str, FieldType], path: str, key: str = "where") -> None:
        for index, test in enumerate(filters):
            place = f"{path}.{key}[{index}]"
            if test.property not in properties:
                self._problem(f"{place}.property", f"unknown property {test.property!r}")
            else:
                self._operator(properties[test.property], test.op, test.value, place, allowed=PROPERTY_OPERATORS)

    def _operator(self, field_type: FieldType, op: str, value: Any, path: str, allowed: tuple[str, ...] = ()) -> None:
        if op not in OPERATORS_BY_TYPE[field_type] or (allowed and op not in allowed):
            self._problem(f"{path}.op", f"{op!r} does not apply to a {field_type} value")
            return
        problem = _value_problem(field_type, op, value)
        if problem:
            self._problem(f"{path}.value", problem)

    def _condition(self, condition: Condition, path: str) -> None:
        kind = condition.kind
        if kind in ("all", "any"):
            for index, child in enumerate(getattr(condition, kind)):
                self._condition(child, f"{path}.{kind}[{index}]")
        elif kind == "not":
            assert condition.not_ is not None
            self._condition(condition.not_, f"{path}.not")
        elif kind == "field":
            assert condition.field is not None and condition.op is not None
            if condition.field not in self.fields:
                self._problem(f"{path}.field", f"unknown field {condition.field!r}")
            else:
                self._operator(self.fields[condition.field], condition.op, condition.value, path)
        elif kind == "segment":
            if condition.segment not in {segment.name for segment in self.document.segments}:
                self._problem(f"{path}.segment", f"unknown segment {condition.segment!r}")
        elif kind in ("event", "orders"):
            behaviour = condition.event or condition.orders
            assert behaviour is not None
            events = condition.event is not None
            if condition.event is not None:
                self._event_name(condition.event.name, f"{path}.event.name")
            properties = _properties(events, self.document)
            self._filters(behaviour.where, properties, f"{path}.{kind}")
            if behaviour.sum is not None:
                property_type = properties.get(behaviour.sum.property)
                if property_type is None:
                    self._problem(f"{path}.{kind}.sum.property", f"unknown property {behaviour.sum.property!r}")
                elif property_type not in ("integer", "number"):
                    self._problem(f"{path}.{kind}.sum.property", f"sum needs a number property, not {property_type}")

    def _cycles(self) -> None:
        """Refuse a segment that depends on itself through references; the path is the first reference of the cycle."""
        graph = {segment.name: list(segment_references(segment.where)) for segment in self.document.segments}
        index_of = {segment.name: index for index, segment in enumerate(self.document.segments)}
        state: dict[str, str] = {}  # "open" while on the current path, "done" once every dependency is checked
        reported: set[frozenset[str]] = set()

        def visit(name: str, trail: list[str]) -> None:
            state[name] = "open"
            for reference in graph.get(name, ()):
                if state.get(reference) == "open":
                    cycle = trail[trail.index(reference) :] + [reference]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        start = cycle[0]
                        self._problem(
                            f"segments[{index_of[start]}].where{_reference_path(self.document.segment(start).where, cycle[1])}",
                            "cycle between segments: " + " -> ".join(cycle),
                        )
                elif reference in graph and reference not in state:
                    visit(reference, [*trail, reference])
            state[name] = "done"

        for name in graph:
            if name not in state:
                visit(name, [name])


def _reference_path(condition: Condition, name: str) -> str:
    """The JSON path (below `where`) of the first reference to segment `name`."""
    if condition.segment == name:
        return ".segment"
    for kind in ("all", "any"):
        for index, child in enumerate(getattr(condition, kind) or ()):
            if name in segment_references(child):
                return f".{kind}[{index}]{_reference_path(child, name)}"
    if condition.not_ is not None:
        return ".not" + _reference_path(condition.not_, name)
    return ""


def _value_problem(field_type: FieldType, op: str, value: Any) -> str | None:
    """What is wrong with `value` for `op` on a field of `field_type`, or None."""
    if op in NO_VALUE_OPERATORS:
        return None if value is None else f"{op!r} takes no value"
    if op in DURATION_OPERATORS:
        if not isinstance(value, dict):
            return f"{op!r} needs a duration such as {{\"days\": 7}}"
        try:
            Duration.model_validate(value)
        except ValidationError as error:
            return "; ".join(detail["msg"].removeprefix("Value error, ") for detail in error.errors())
        return None
    if op == "top_percent":
        return None if _is_number(value) and 0 < value <= 100 else "top_percent needs a number above 0 and up to 100"
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return f"{op!r} needs a non-empty list"
        wrong = [item for item in value if not _fits(field_type, item)]
        return f"{wrong[0]!r} is not a {field_type}" if wrong else None
    if op == "contains":
        return None if isinstance(value, str) and value else "contains needs a non-empty string"
    return None if _fits(field_type, value) else f"{value!r} is not a {field_type}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fits(field_type: FieldType, value: Any) -> bool:
    if field_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if field_type == "number":
        return _is_number(value)
    if field_type == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)
