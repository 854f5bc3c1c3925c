"""Cleans a whole table of raw strings against an entity spec: accepted rows typed, rejected rows with reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdp.clean.entities import EntitySpec

LINE_COLUMN = "source_line"


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


def _record_first_reason(reasons: pa.Array, failed: pa.Array, reason: str) -> pa.Array:
    """Set `reason` on failed rows that do not have a reason yet (a row keeps its first fault)."""
    newly_failed = pc.and_(pc.is_null(reasons), pc.fill_null(failed, False))
    return pc.if_else(newly_failed, pa.scalar(reason), reasons)


def _later_duplicates(clean: dict[str, pa.Array], key: tuple[str, ...], candidates: pa.Array) -> pa.Array:
    """Rows whose natural key already appeared in an earlier candidate row."""
    positions = pa.array(range(len(candidates)), pa.int64())
    keyed = pa.table({**{name: clean[name] for name in key}, "position": positions}).filter(candidates)
    first_positions = keyed.group_by(list(key), use_threads=False).aggregate([("position", "min")])
    is_first = pc.is_in(positions, first_positions.column("position_min"))
    return pc.and_(candidates, pc.invert(is_first))


def clean_table(spec: EntitySpec, raw: pa.Table, lines: pa.Array) -> CleanResult:
    """Standardise every canonical column of `raw` (all strings) and split accepted from rejected rows."""
    missing = [name for name in spec.column_names if name not in raw.column_names]
    if missing:
        raise UnreadableFile("missing_columns", ", ".join(missing))

    reasons = pa.nulls(raw.num_rows, pa.string())
    clean: dict[str, pa.Array] = {}
    for rule in spec.columns:
        result = rule.standardise(raw.column(rule.name).combine_chunks(), clean)
        clean[rule.name] = result.values
        if rule.invalid_reason:
            reasons = _record_first_reason(reasons, result.invalid, rule.invalid_reason)
        if rule.required:
            reasons = _record_first_reason(reasons, pc.is_null(result.values), rule.missing_reason)
    for reason, check in spec.row_checks:
        reasons = _record_first_reason(reasons, check(clean), reason)
    reasons = _record_first_reason(
        reasons, _later_duplicates(clean, spec.natural_key, pc.is_null(reasons)), "duplicate_key"
    )

    accepted_mask = pc.is_null(reasons)
    accepted = pa.table({**clean, LINE_COLUMN: lines}).filter(accepted_mask)
    rejected_mask = pc.invert(accepted_mask)
    rejected_rows = raw.filter(rejected_mask).to_pylist()
    rejected = [
        Rejection(line=line, reason=reason, row=row)
        for line, reason, row in zip(
            lines.filter(rejected_mask).to_pylist(), reasons.filter(rejected_mask).to_pylist(), rejected_rows
        )
    ]
    return CleanResult(accepted=accepted, rejected=rejected)
