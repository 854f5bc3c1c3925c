"""What merges and splits move: one ledger record from one profile to another, with the merges it went through."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordMove:
    """One ledger record re-pointed from one profile to another, its `merged_by` list from `before` to `after`."""

    pk: str
    from_profile: str
    to_profile: str
    merged_by_before: tuple[str, ...]
    merged_by_after: tuple[str, ...]
