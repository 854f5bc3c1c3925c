"""Curated rows as the evaluator's behaviour tables: each row given its profile, event properties as columns.

Curated orders and events name a person by identifiers (customer_id, email, anonymous_id), not by profile: a row
belongs to the profile its strongest bound identifier points to (the identity index of the profile snapshot), and
rows of nobody known are dropped. Event properties arrive as one JSON object per row; the properties a definition
reads become typed columns, parsed as one newline-delimited JSON buffer by pyarrow's JSON reader, or, when a
property's values disagree in type across rows (hostile or sloppy tracking), row by row, keeping only the values
of the property's type.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from cdp.canonical import IDENTIFIER_TYPES
from cdp.segments.arrow_types import ARROW_TYPES
from cdp.segments.vocabulary import FieldType

PROPERTIES_COLUMN = "properties"


def with_profiles(rows: pa.Table, identities: pa.Table) -> pa.Table:
    """`rows` with a `profile_id` column, from the strongest identifier bound to a profile; unmatched rows dropped."""
    value_set = pc.cast(identities["identifier"], pa.string())
    positions: pa.ChunkedArray | None = None
    for kind in IDENTIFIER_TYPES:
        if kind not in rows.column_names:
            continue
        keys = pc.binary_join_element_wise(kind, pc.cast(rows[kind], pa.string()), "#")
        found = pc.index_in(keys, value_set=value_set)
        positions = found if positions is None else pc.coalesce(positions, found)
    if positions is None or rows.num_rows == 0:
        return rows.append_column("profile_id", pa.nulls(rows.num_rows, pa.string())).slice(0, 0)
    profile_ids = pc.take(identities["profile_id"], positions)
    return rows.append_column("profile_id", pc.cast(profile_ids, pa.string())).filter(pc.is_valid(positions))


def expand_properties(events: pa.Table, properties: dict[str, FieldType]) -> pa.Table:
    """The events with one column per named property (missing where a row lacks it), `properties` dropped."""
    if not properties:
        return events.drop_columns([PROPERTIES_COLUMN]) if PROPERTIES_COLUMN in events.column_names else events
    schema = pa.schema([(name, ARROW_TYPES[field_type]) for name, field_type in properties.items()])
    if PROPERTIES_COLUMN not in events.column_names or events.num_rows == 0:
        columns = {name: pa.nulls(events.num_rows, field.type) for name, field in zip(schema.names, schema)}
    else:
        columns = _parsed(events[PROPERTIES_COLUMN], schema)
    expanded = events.drop_columns([PROPERTIES_COLUMN]) if PROPERTIES_COLUMN in events.column_names else events
    for name, values in columns.items():
        if name in expanded.column_names:
            expanded = expanded.drop_columns([name])
        expanded = expanded.append_column(pa.field(name, schema.field(name).type), _as_chunked(values))
    return expanded


def _as_chunked(values: Any) -> pa.ChunkedArray:
    return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])


def _parsed(texts: pa.ChunkedArray, schema: pa.Schema) -> dict[str, Any]:
    """The properties of `schema` from each row's JSON text, all rows at once, or row by row when they disagree."""
    objects = pc.if_else(pc.starts_with(pc.fill_null(texts, ""), "{"), texts, "{}")
    single_line = pc.replace_substring(pc.cast(objects, pa.string()), "\n", " ")  # JSON text never needs a newline
    lines = pc.binary_join_element_wise(single_line, "", "\n").combine_chunks().cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    data = lines.buffers()[2][int(offsets[0]) : int(offsets[-1])] if len(lines) else pa.py_buffer(b"")
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pa_json.read_json(pa.BufferReader(data), parse_options=options)
        if table.num_rows == len(lines):
            return {name: table[name] for name in schema.names}
    except pa.ArrowInvalid:
        pass
    return _parsed_row_by_row(lines.to_pylist(), schema)


def _parsed_row_by_row(lines: list[str], schema: pa.Schema) -> dict[str, Any]:
    values: dict[str, list[Any]] = {name: [] for name in schema.names}
    for line in lines:
        try:
            document = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            document = None
        for name in schema.names:
            value = document.get(name) if isinstance(document, dict) else None
            values[name].append(value)
    return {name: _typed(values[name], schema.field(name).type) for name in schema.names}


def _typed(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    """The values that fit the type; the others missing."""
    kept: list[Any]
    if pa.types.is_integer(arrow_type):
        kept = [int(v) if _is_number(v) and float(v).is_integer() else None for v in values]
    elif pa.types.is_floating(arrow_type):
        kept = [float(v) if _is_number(v) else None for v in values]
    elif pa.types.is_boolean(arrow_type):
        kept = [v if isinstance(v, bool) else None for v in values]
    else:
        kept = [v if isinstance(v, str) else None for v in values]
        if not pa.types.is_string(arrow_type):
            try:
                return pc.cast(pa.array(kept, pa.string()), arrow_type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return pa.nulls(len(values), arrow_type)
    return pa.array(kept, arrow_type)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
