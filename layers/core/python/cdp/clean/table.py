"""Cleans a whole table of raw strings against an entity spec: accepted rows typed, rejected rows with reasons."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.clean.entities import MAX_ROW_BYTES, ColumnRule, EntitySpec
from cdp.clean.standardise import CLEAN_TYPES, STANDARDISERS, Context, blank_to_null

LINE_COLUMN = "source_line"
MAPPING_REJECTION = "_mapping_rejection"  # optional raw column: a reason the source mapping already gave a row


class UnreadableFile(ValueError):
    """The file as a whole cannot be ingested; `reason` is machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Rejection:
    """One quarantined row: where it was, why, and its original content."""

    line: int | None
    reason: str
    row: dict[str, Any]


@dataclass(frozen=True)
class CleanResult:
    accepted: pa.Table
    rejected: list[Rejection]


INVALID_REASONS = {
    "email": "invalid_email",
    "phone": "invalid_phone",
    "push_endpoint": "invalid_push_endpoint",
    "timestamp": "invalid_timestamp",
    "date": "invalid_date",
    "currency": "unknown_currency",
    "country": "unknown_country",
}
FIRST_COLUMNS = ("country", "province", "city")  # what other columns read (phone region, region code)
DERIVED_KINDS = ("region_code",)  # kinds that may have a value where their own column is empty


def context_of(raw: pa.Table) -> dict[str, str]:
    """The source defaults a mapping attached to the raw table's schema metadata (see cdp.ingest.mappings)."""
    metadata = raw.schema.metadata or {}
    return {key.decode(): value.decode() for key, value in metadata.items() if key.startswith(b"cdp.")}


def _context(defaults: dict[str, str], clean: dict[str, pa.Array], rule: ColumnRule) -> Context:
    return Context(
        clean=clean,
        timezone=defaults.get("cdp.timezone", "UTC"),
        timestamp_formats=tuple(json.loads(defaults.get("cdp.timestamp_formats", "[]"))),
        phone_region=defaults.get("cdp.phone_region"),
        choices=rule.choices,
    )


def _record_first_reason(reasons: pa.Array, failed: pa.Array, reason: str) -> pa.Array:
    """Set `reason` on failed rows that do not have a reason yet (a row keeps its first fault)."""
    if not pc.any(failed).as_py():
        return reasons
    newly_failed = pc.and_(pc.is_null(reasons), pc.fill_null(failed, False))
    return pc.if_else(newly_failed, pa.scalar(reason), reasons)


def _out_of_range(values: pa.Array, rule: ColumnRule) -> pa.Array:
    below = pc.less(values, rule.minimum) if rule.minimum is not None else None
    above = pc.greater(values, rule.maximum) if rule.maximum is not None else None
    outside = pc.or_(below, above) if below is not None and above is not None else below if below is not None else above
    return pc.fill_null(outside, False)


def row_positions(count: int) -> pa.Array:
    """0, 1, ... count - 1 as int64, built in Arrow."""
    return pc.subtract(pc.cumulative_sum(pa.nulls(count, pa.int64()).fill_null(1)), 1)


def _key_codes(clean: dict[str, pa.Array], key: tuple[str, ...]) -> pa.Array:
    """One int64 per row, equal exactly when the natural key is (nulls included): the key columns' dictionary
    indices combined pairwise and re-encoded, so codes stay below the row count."""
    codes: pa.Array | None = None
    for name in key:
        encoded = pc.dictionary_encode(clean[name], null_encoding="encode")
        indices = pc.cast(encoded.indices, pa.int64())
        if codes is None:
            codes = indices
            continue
        pairs = pc.add(pc.multiply(codes, len(encoded.dictionary) + 1), indices)
        codes = pc.cast(pc.dictionary_encode(pairs).indices, pa.int64())
    assert codes is not None
    return codes


def _later_duplicates(clean: dict[str, pa.Array], key: tuple[str, ...], candidates: pa.Array) -> pa.Array:
    """Candidate rows whose natural key already appeared in an earlier candidate row. Dictionary indices are given
    in order of first appearance, so a row is a first occurrence exactly when its index exceeds all earlier ones."""
    positions = pc.indices_nonzero(candidates)
    indices = pc.dictionary_encode(pc.take(_key_codes(clean, key), positions)).indices
    if len(indices) == 0:
        return candidates
    running_max = pc.cumulative_max(pc.cast(indices, pa.int64()))
    earlier_max = pa.concat_arrays([pa.array([-1], pa.int64()), running_max.slice(0, len(running_max) - 1)])
    repeated = pc.indices_nonzero(pc.less_equal(pc.cast(indices, pa.int64()), earlier_max))
    if len(repeated) == 0:
        return pc.and_(candidates, pa.scalar(False))
    return pc.is_in(row_positions(len(candidates)), pc.take(positions, repeated))


def _oversized(spec: EntitySpec, raw: pa.Table, reasons: pa.Array) -> pa.Array:
    """Each value over its column's byte budget, then each row over the row budget (see cdp.clean.entities)."""
    row_bytes = pa.array([0] * raw.num_rows, pa.int64())
    for rule in spec.columns:
        sizes = pc.fill_null(pc.cast(pc.binary_length(raw.column(rule.name).combine_chunks()), pa.int64()), 0)
        reasons = _record_first_reason(reasons, pc.greater(sizes, rule.max_bytes), f"out_of_range:{rule.name}")
        row_bytes = pc.add(row_bytes, sizes)
    return _record_first_reason(reasons, pc.greater(row_bytes, MAX_ROW_BYTES), "out_of_range:row_bytes")


def _standardise(spec: EntitySpec, raw: pa.Table) -> tuple[dict[str, pa.Array], pa.Array]:
    """Clean every column in dependency order; the reasons array holds each row's first fault (null: none)."""
    reasons = (
        raw.column(MAPPING_REJECTION).combine_chunks()
        if MAPPING_REJECTION in raw.column_names
        else pa.nulls(raw.num_rows, pa.string())
    )
    reasons = _oversized(spec, raw, reasons)
    clean: dict[str, pa.Array] = {}
    defaults = context_of(raw)
    rules = sorted(spec.columns, key=lambda rule: rule.name not in FIRST_COLUMNS)
    for rule in rules:
        column = raw.column(rule.name).combine_chunks()
        if rule.default is not None:
            column = pc.coalesce(blank_to_null(column), rule.default)
        context = _context(defaults, clean, rule)
        if column.null_count == len(column) and rule.kind not in DERIVED_KINDS:
            clean[rule.name] = pa.nulls(len(column), CLEAN_TYPES.get(rule.kind, pa.string()))
            continue
        result = STANDARDISERS[rule.kind](column, context)
        values = result.values
        reasons = _record_first_reason(reasons, result.invalid, INVALID_REASONS.get(rule.kind, f"invalid:{rule.name}"))
        if rule.minimum is not None or rule.maximum is not None:
            outside = _out_of_range(values, rule)
            reasons = _record_first_reason(reasons, outside, f"out_of_range:{rule.name}")
            values = pc.if_else(outside, pa.scalar(None, values.type), values)
        clean[rule.name] = values
    for name, derive in spec.derivations:
        derived = derive(clean)
        reasons = _record_first_reason(reasons, derived.invalid, f"out_of_range:{name}")
        clean[name] = pc.coalesce(clean[name], derived.values)
    for name in spec.required:
        reasons = _record_first_reason(reasons, pc.is_null(clean[name]), f"missing:{name}")
    for check in spec.row_checks:
        reasons = _record_first_reason(reasons, check.failed(clean), check.reason)
    return clean, reasons


class FileKeys:
    """The natural keys accepted from earlier batches of one file, so that a line repeated across a batch boundary
    is still a `duplicate_in_file`. One instance per file; pass it to every clean_table call of that file. Each
    batch costs one hash lookup per key seen so far (the earlier keys are probed against the batch's)."""

    def __init__(self) -> None:
        self._batches: list[pa.Array] = []

    def seen(self, keys: pa.Array) -> pa.Array:
        if not self._batches:
            return pc.is_in(keys, pa.array([], pa.string()))
        earlier = pa.chunked_array(self._batches, pa.string())
        repeated = earlier.filter(pc.is_in(earlier, keys))
        return pc.is_in(keys, repeated)

    def add(self, keys: pa.Array) -> None:
        self._batches.append(keys)


def _key_text(clean: dict[str, pa.Array], key: tuple[str, ...]) -> pa.Array:
    """The natural key as one string, equal exactly when the key is (each part length-prefixed, null as N)."""
    if len(key) == 1 and pa.types.is_string(clean[key[0]].type):
        return clean[key[0]]
    parts = []
    for name in key:
        text = pc.cast(clean[name], pa.string())
        prefixed = pc.binary_join_element_wise(pc.cast(pc.utf8_length(text), pa.string()), text, ":")
        parts.append(pc.fill_null(prefixed, "N"))
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "|")


def clean_table(spec: EntitySpec, raw: pa.Table, lines: pa.Array, file_keys: FileKeys | None = None) -> CleanResult:
    """Standardise every canonical column of `raw` (all strings) and split accepted from rejected rows; accepted
    has the entity's columns in the contract's order plus `source_line`, each rejected row one reason. With
    `file_keys`, rows whose natural key an earlier batch of the same file accepted are duplicates too."""
    missing = [name for name in spec.column_names if name not in raw.column_names]
    if missing:
        raise UnreadableFile("missing_columns", ", ".join(missing))

    clean, reasons = _standardise(spec, raw)
    reasons = _record_first_reason(
        reasons, _later_duplicates(clean, spec.natural_key, pc.is_null(reasons)), "duplicate_in_file"
    )
    if file_keys is not None:
        keys = _key_text(clean, spec.natural_key)
        reasons = _record_first_reason(reasons, pc.and_(pc.is_null(reasons), file_keys.seen(keys)), "duplicate_in_file")
        file_keys.add(keys.filter(pc.is_null(reasons)))

    accepted_mask = pc.is_null(reasons)
    accepted = pa.table({**{name: clean[name] for name in spec.column_names}, LINE_COLUMN: lines}).filter(
        accepted_mask
    )
    rejected_mask = pc.invert(accepted_mask)
    if not pc.any(rejected_mask).as_py():
        return CleanResult(accepted=accepted, rejected=[])
    rejected_rows = raw.select(spec.column_names).filter(rejected_mask).to_pylist()
    rejected = [
        Rejection(line=line, reason=reason, row=row)
        for line, reason, row in zip(
            lines.filter(rejected_mask).to_pylist(), reasons.filter(rejected_mask).to_pylist(), rejected_rows
        )
    ]
    return CleanResult(accepted=accepted, rejected=rejected)
