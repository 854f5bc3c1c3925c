"""Source mappings: how a shop's export becomes a canonical entity's columns (as strings, ready for clean_table).

A mapping is a versioned JSON data file under `mappings/` (no code): which entity it feeds, how to read the file,
which source column becomes which canonical column, value maps, constants, source defaults (time zone of naive
timestamps, currency, country, phone region) and column-wise derivations. A file picks its mapping by a sidecar
manifest `<key>.manifest.json` or else by its key's prefix (see `mapping_for`).

Line keys. An order or return line is identified by its order's id and `line_id`, and a second line with the same
pair is a duplicate. A mapping of such an entity must say how it identifies a line: by a `line_id` it maps or
derives (`line_key: "mapped"`, a line number or the columns that tell lines apart), or, for a source that has no
such column or set of columns, by the whole line (`line_key: "whole_line"`): `line_id` then joins every column the
mapping maps except the order's id, in the order the mapping lists them, so that only a line identical in all of
them to an earlier one of its order is a duplicate, and lines differing in any mapped column are all kept.
"""

from __future__ import annotations

import json
import posixpath
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cdp.clean.entities import ENTITIES
from cdp.clean.reference_codes import TIMEZONES
from cdp.clean.table import MAPPING_REJECTION, UnreadableFile, row_positions

MAPPINGS_DIR = Path(__file__).parent / "mappings"
MANIFEST_SUFFIX = ".manifest.json"
LINE_KEY = "line_id"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _re2(pattern: str) -> str:
    """Refuse a regular expression Arrow's RE2 cannot compile (RE2 also rules out catastrophic backtracking)."""
    try:
        pc.match_substring_regex(pa.array([""]), pattern)
    except pa.ArrowInvalid as error:
        raise ValueError(f"invalid regular expression {pattern!r}: {error}") from error
    return pattern


class Join(_Rule):
    """target = the source columns' trimmed values joined by `separator` (an empty one joins as ""; null if all are)."""

    kind: Literal["join"]
    target: str
    sources: tuple[str, ...] = Field(min_length=1)
    separator: str = "|"


class Pattern(_Rule):
    """target = the value of the first regular expression (RE2) that matches the source column, else `otherwise`."""

    kind: Literal["pattern"]
    target: str
    source: str
    patterns: dict[str, str] = Field(min_length=1)
    otherwise: str | None = None

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: dict[str, str]) -> dict[str, str]:
        for pattern in patterns:
            _re2(pattern)
        return patterns


class Replace(_Rule):
    """target = the source column with every match of a regular expression (RE2) replaced, e.g. the leading
    apostrophe spreadsheet exports put before long numbers ("'7012345678901")."""

    kind: Literal["replace"]
    target: str
    source: str
    pattern: str
    replacement: str = ""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        return _re2(pattern)


class FillDown(_Rule):
    """Empty cells of `columns` take the value of the row above with the same `within` value (Shopify writes an
    order's fields on its first line only); across read batches when apply_mapping is given a FillDownCarry."""

    kind: Literal["fill_down"]
    columns: tuple[str, ...] = Field(min_length=1)
    within: str


Derivation = Annotated[Join | Pattern | Replace | FillDown, Field(discriminator="kind")]


class Condition(_Rule):
    """A source column's trimmed value matches (or, with `negate`, does not match) a regular expression."""

    column: str
    matches: str
    negate: bool = False

    @field_validator("matches")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        return _re2(pattern)


class Rejection(_Rule):
    """Rows meeting every condition are quarantined with `reason` (e.g. stock movements that are not sales)."""

    reason: str = Field(pattern=r"^[a-z0-9_:]+$")
    when: tuple[Condition, ...] = Field(min_length=1)


class Defaults(_Rule):
    """Source-wide defaults: the time zone of timestamps without an offset, the currency and country of rows that
    have none, the region for national phone numbers, and the formats of timestamps (strptime; ISO 8601 always)."""

    timezone: str = "UTC"
    currency: str | None = None
    country: str | None = None
    phone_region: str | None = None
    timestamp_formats: tuple[str, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value.lower() not in TIMEZONES:
            raise ValueError(f"unknown IANA time zone {value!r}")
        return TIMEZONES[value.lower()]


class SourceMapping(_Rule):
    """One versioned source layout of one canonical entity."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    version: int = Field(ge=1)
    entity: str
    description: str = ""
    prefixes: tuple[str, ...] = ()
    format: Literal["csv", "jsonl", "parquet"] | None = None
    encoding: str | None = None
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    columns: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, str] = Field(default_factory=dict)
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    defaults: Defaults = Defaults()
    derivations: tuple[Derivation, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    line_key: Literal["mapped", "whole_line"] = "mapped"

    @model_validator(mode="after")
    def _targets_are_canonical(self) -> SourceMapping:
        if self.entity not in ENTITIES:
            raise ValueError(f"unknown entity {self.entity!r}")
        canonical = set(ENTITIES[self.entity].column_names)
        targets = {
            *self.columns.values(),
            *self.constants,
            *self.value_maps,
            *(rule.target for rule in self.derivations if not isinstance(rule, FillDown)),
        }
        if unknown := sorted(targets - canonical):
            raise ValueError(f"not columns of {self.entity}: {', '.join(unknown)}")
        return self

    @model_validator(mode="after")
    def _lines_are_identified(self) -> SourceMapping:
        """A line-keyed entity's mapping gives line_id, or says the source has none (whole_line), never both."""
        keyed_by_line = LINE_KEY in ENTITIES[self.entity].natural_key
        given = LINE_KEY in {*self.columns.values(), *self.constants} or any(
            not isinstance(rule, FillDown) and rule.target == LINE_KEY for rule in self.derivations
        )
        if self.line_key == "whole_line" and not keyed_by_line:
            raise ValueError(f"line_key whole_line: {self.entity} is not keyed by {LINE_KEY}")
        if self.line_key == "whole_line" and given:
            raise ValueError(f"line_key whole_line builds {LINE_KEY} from the whole line: do not map or derive it")
        if self.line_key == "whole_line" and not self._line_columns():
            raise ValueError(f"line_key whole_line: no mapped column besides the order's id to build {LINE_KEY} from")
        if self.line_key == "mapped" and keyed_by_line and not given:
            raise ValueError(
                f"no {LINE_KEY}: map or derive what identifies a line, or set line_key whole_line if nothing does"
            )
        return self

    @property
    def whole_line(self) -> Join | None:
        """The derivation of line_id from the whole line, for a source without a line key (else None)."""
        if self.line_key != "whole_line":
            return None
        return Join(kind="join", target=LINE_KEY, sources=self._line_columns())

    def _line_columns(self) -> tuple[str, ...]:
        """The mapped source columns, in the mapping's order, except those of the order's (or return's) id."""
        order_key = set(ENTITIES[self.entity].natural_key) - {LINE_KEY}
        return tuple(source for source, target in self.columns.items() if target not in order_key)

    def with_phone_region(self, default_region: str) -> SourceMapping:
        """This mapping with the deployment's default phone region where it names none of its own."""
        if self.defaults.phone_region:
            return self
        return self.model_copy(update={"defaults": self.defaults.model_copy(update={"phone_region": default_region})})

    @property
    def read_options(self) -> dict[str, str | None]:
        """What the reader needs; None means detect."""
        return {"format": self.format, "encoding": self.encoding, "delimiter": self.delimiter}


def _load(path: Path) -> SourceMapping:
    return SourceMapping.model_validate_json(path.read_bytes())


@cache
def shipped_mappings() -> dict[tuple[str, int], SourceMapping]:
    """Every mapping file shipped under mappings/, by (name, version)."""
    mappings = [_load(path) for path in sorted(MAPPINGS_DIR.glob("*.json"))]
    return {(mapping.name, mapping.version): mapping for mapping in mappings}


def _latest(name: str) -> SourceMapping | None:
    versions = [mapping for (found, _), mapping in shipped_mappings().items() if found == name]
    return max(versions, key=lambda mapping: mapping.version, default=None)


def _from_manifest(manifest: dict[str, Any]) -> SourceMapping:
    chosen = manifest.get("mapping")
    if isinstance(chosen, dict):
        try:
            return SourceMapping.model_validate(chosen)
        except ValidationError as error:
            raise UnreadableFile("invalid_mapping", str(error.errors(include_url=False))[:500]) from error
    if not isinstance(chosen, str):
        raise UnreadableFile("invalid_manifest", "manifest needs 'mapping': a shipped name or an inline mapping")
    version = manifest.get("version")
    mapping = shipped_mappings().get((chosen, version)) if isinstance(version, int) else _latest(chosen)
    if mapping is None:
        raise UnreadableFile("unknown_mapping", f"{chosen} version {version}" if version else chosen)
    return mapping


def mapping_for(key: str, manifest: dict[str, Any] | None) -> SourceMapping:
    """The mapping of an object: its sidecar manifest's, else the shipped mapping with the longest matching key
    prefix, else the canonical mapping of the entity its file name starts with (`orders-2024.csv`)."""
    if manifest is not None:
        return _from_manifest(manifest)
    lowered = key.lower()
    matches = [
        (len(prefix), mapping)
        for mapping in shipped_mappings().values()
        for prefix in mapping.prefixes
        if lowered.startswith(prefix.lower())
    ]
    if matches:
        longest = max(length for length, _ in matches)
        return max((m for length, m in matches if length == longest), key=lambda mapping: mapping.version)
    stem = re.split(r"[^a-z]", posixpath.basename(lowered), maxsplit=1)[0]
    mapping = _latest(f"canonical_{stem}") if stem in ENTITIES else None
    if mapping is None:
        raise UnreadableFile("unknown_mapping", f"no mapping for key {key[:200]!r}")
    return mapping


def manifest_key(key: str) -> str:
    """Where the sidecar manifest of `key` lives."""
    return key + MANIFEST_SUFFIX


def _trimmed(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    combined = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = pc.utf8_trim_whitespace(pc.cast(combined, pa.string()))
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _fill_down(columns: dict[str, pa.Array], rule: FillDown) -> None:
    """Fill empty cells from the nearest row above in the same group (rows of a group are consecutive)."""
    group = columns[rule.within]
    positions = row_positions(len(group))
    for name in rule.columns:
        if name not in columns:
            continue
        values = columns[name]
        starts_group = pc.not_equal(group, pc.take(group, pc.max_element_wise(pc.subtract(positions, 1), 0)))
        starts_group = pc.or_(pc.fill_null(starts_group, True), pc.equal(positions, 0))
        anchor = pc.if_else(pc.or_(pc.is_valid(values), starts_group), positions, pa.scalar(None, pa.int64()))
        source_row = pc.fill_null_forward(anchor)
        filled = pc.take(values, source_row)
        columns[name] = pc.coalesce(values, filled)


class FillDownCarry:
    """The last row of the previous batch of one file, so that `fill_down` continues across batch boundaries
    (an order whose line items straddle two batches). One instance per file; pass it to every apply_mapping call."""

    def __init__(self) -> None:
        self.last_row: dict[str, pa.Array] = {}

    def fill(self, source: dict[str, pa.Array], rules: list[FillDown]) -> None:
        """Fill down `source` in place, starting from the carried row, and carry this batch's last row on."""
        names = [name for name in source if any(name == rule.within or name in rule.columns for rule in rules)]
        carried = bool(self.last_row) and all(name in self.last_row for name in names) and len(source[names[0]]) > 0
        columns = {
            name: pa.concat_arrays([self.last_row[name], source[name]]) if carried else source[name] for name in names
        }
        for rule in rules:
            _fill_down(columns, rule)
        for name in names:
            source[name] = columns[name].slice(1) if carried else columns[name]
            if len(source[name]):
                self.last_row[name] = source[name].slice(len(source[name]) - 1)


def _column(source: dict[str, pa.Array], name: str, length: int) -> pa.Array:
    """A source column, or all nulls when the file does not have it."""
    return source[name] if name in source else pa.nulls(length, pa.string())


def _source_columns(mapping: SourceMapping) -> set[str]:
    """Every source column the mapping reads."""
    return {
        *mapping.columns,
        *(rule.within for rule in mapping.derivations if isinstance(rule, FillDown)),
        *(name for rule in mapping.derivations if isinstance(rule, FillDown) for name in rule.columns),
        *(name for rule in mapping.derivations if isinstance(rule, Join) for name in rule.sources),
        *(rule.source for rule in mapping.derivations if isinstance(rule, Pattern | Replace)),
        *(condition.column for rule in mapping.rejections for condition in rule.when),
    }


def _require_sources(mapping: SourceMapping, present: set[str]) -> None:
    """Refuse a file that lacks the source column of a required canonical column nothing else provides."""
    spec = ENTITIES[mapping.entity]
    provided = {
        *(canonical for source, canonical in mapping.columns.items() if source in present),
        *mapping.constants,
        *(rule.target for rule in mapping.derivations if not isinstance(rule, FillDown)),
    }
    if mapping.whole_line is not None:
        provided.add(LINE_KEY)
    if mapping.defaults.currency:
        provided.add("currency")
    missing = [name for name in spec.required if name not in provided]
    if missing:
        raise UnreadableFile("missing_columns", ", ".join(missing))


def _value_mapped(values: pa.Array, table: dict[str, str]) -> pa.Array:
    """Replace values found in `table` (keys compared case-insensitively); an empty replacement means null."""
    keys = pa.array([key.strip().lower() for key in table], pa.string())
    replacements = pa.array([value if value != "" else None for value in table.values()], pa.string())
    position = pc.index_in(pc.utf8_lower(values), keys)
    return pc.if_else(pc.is_valid(position), pc.take(replacements, position), values)


def _derived(rule: Join | Pattern | Replace, source: dict[str, pa.Array], length: int) -> pa.Array:
    if isinstance(rule, Replace):
        replaced = pc.replace_substring_regex(_column(source, rule.source, length), rule.pattern, rule.replacement)
        return pc.if_else(pc.equal(replaced, ""), pa.scalar(None, pa.string()), replaced)
    if isinstance(rule, Join):
        parts = [_column(source, name, length) for name in rule.sources]
        joined = pc.binary_join_element_wise(*parts, rule.separator, null_handling="replace", null_replacement="")
        all_empty = pc.is_null(pc.coalesce(*parts))
        return pc.if_else(all_empty, pa.scalar(None, pa.string()), joined)
    column = _column(source, rule.source, length)
    result = pa.nulls(len(column), pa.string())
    for pattern, value in rule.patterns.items():
        matched = pc.fill_null(pc.match_substring_regex(column, pattern), False)
        result = pc.if_else(pc.and_(pc.is_null(result), matched), pa.scalar(value), result)
    return pc.coalesce(result, pa.scalar(rule.otherwise, pa.string()))


def _rejections(mapping: SourceMapping, source: dict[str, pa.Array], length: int) -> pa.Array:
    reasons = pa.nulls(length, pa.string())
    for rule in mapping.rejections:
        met = None
        for condition in rule.when:
            values = pc.fill_null(_column(source, condition.column, length), "")
            matched = pc.fill_null(pc.match_substring_regex(values, condition.matches), False)
            matched = pc.invert(matched) if condition.negate else matched
            met = matched if met is None else pc.and_(met, matched)
        reasons = pc.if_else(pc.and_(pc.is_null(reasons), met), pa.scalar(rule.reason), reasons)
    return reasons


def apply_mapping(mapping: SourceMapping, raw: pa.Table, carry: FillDownCarry | None = None) -> pa.Table:
    """The canonical entity's columns as trimmed strings (null when empty), plus `MAPPING_REJECTION` when the
    mapping quarantines rows; the mapping's time zone, timestamp formats and phone region travel in the schema
    metadata for clean_table. With `carry`, fill_down continues from the previous batch of the same file."""
    present = set(raw.column_names)
    _require_sources(mapping, present)
    length = raw.num_rows
    source = {name: _trimmed(raw.column(name)) for name in _source_columns(mapping) & present}
    fill_downs = [rule for rule in mapping.derivations if isinstance(rule, FillDown) and rule.within in source]
    if fill_downs:
        (carry or FillDownCarry()).fill(source, fill_downs)

    canonical: dict[str, pa.Array] = {}
    for source_name, target in mapping.columns.items():
        if source_name in present and target not in canonical:
            canonical[target] = source[source_name]
    for rule in mapping.derivations:
        if not isinstance(rule, FillDown):
            derived = _derived(rule, source, length)
            canonical[rule.target] = pc.coalesce(canonical[rule.target], derived) if rule.target in canonical else derived
    if (whole_line := mapping.whole_line) is not None:
        canonical[LINE_KEY] = _derived(whole_line, source, length)
    for target, table in mapping.value_maps.items():
        if target in canonical:
            canonical[target] = _value_mapped(canonical[target], table)
    constants = {**mapping.constants}
    for name in ("currency", "country"):
        if getattr(mapping.defaults, name):
            constants.setdefault(name, getattr(mapping.defaults, name))
    spec = ENTITIES[mapping.entity]
    for name, value in constants.items():
        if name in spec.column_names:
            canonical[name] = pc.coalesce(canonical.get(name, pa.nulls(length, pa.string())), pa.scalar(value))

    columns = {name: canonical.get(name, pa.nulls(length, pa.string())) for name in spec.column_names}
    if mapping.rejections:
        columns[MAPPING_REJECTION] = _rejections(mapping, source, length)
    metadata = {
        "cdp.mapping": f"{mapping.name}@{mapping.version}",
        "cdp.timezone": mapping.defaults.timezone,
        "cdp.timestamp_formats": json.dumps(list(mapping.defaults.timestamp_formats)),
    }
    if mapping.defaults.phone_region:
        metadata["cdp.phone_region"] = mapping.defaults.phone_region
    return pa.table(columns).replace_schema_metadata(metadata)
