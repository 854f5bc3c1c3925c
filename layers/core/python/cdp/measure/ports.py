"""What measurement needs from storage: curated Parquet rows, segment membership snapshots, identifier owners, and
a place for the reports it writes. Light: pyarrow is named for type checking only, so the report API imports this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cdp.canonical import Identifier

if TYPE_CHECKING:
    import pyarrow as pa


class CuratedTables(Protocol):
    def read(self, entity: str, schema: pa.Schema, since: date | None = None) -> pa.Table:
        """The curated rows of `entity` (partitions `dt >= since`, all without it) in `schema`: only its columns,
        cast to its types, a column the rows lack as nulls; an empty table when there are none."""
        ...


@dataclass(frozen=True)
class SegmentRun:
    """One segment computation's membership snapshot."""

    run_id: str
    day: date
    key: str


class SegmentSnapshots(Protocol):
    def runs(self) -> list[SegmentRun]:
        """Every stored snapshot, oldest first."""
        ...

    def members(self, run: SegmentRun) -> pa.Table:
        """The run's `segment, profile_id` rows."""
        ...

    def computed_at(self, run: SegmentRun) -> datetime:
        """When the run scored the profiles (the snapshot object's time when the run does not say)."""
        ...

    def latest(self) -> dict[str, Any]:
        """The latest run's summary (run_id, computed_at, sizes; personas where the segments computation gives
        them), {} before the first run."""
        ...


class ProfileOwners(Protocol):
    def find_bound(self, identifiers: Iterable[Identifier]) -> dict[Identifier, str]:
        """The profile each identifier is bound to (unbound ones absent)."""
        ...

    def live_profile_ids(self, profile_ids: Iterable[str]) -> dict[str, str | None]:
        """Each profile id's surviving profile after merges (None: erased or unknown)."""
        ...


class ReportStore(Protocol):
    def save(self, report: dict[str, Any], html: str, at: datetime) -> dict[str, str]:
        """Store the report's JSON and HTML as the latest and as the day's; returns their keys."""
        ...

    def latest(self) -> dict[str, Any] | None:
        """The latest report's JSON, None before the first."""
        ...
