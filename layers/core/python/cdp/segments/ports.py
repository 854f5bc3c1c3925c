"""What a segment run needs from storage: every profile as a scoring table, and where it saves what changed.

`ProfileSegments` and `Membership` are the values the run and the store exchange; `PROFILE_SCHEMA` is the scoring
table's schema (the store reads profiles into it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

import pyarrow as pa

from cdp.segments.live_ports import RfmCutPoints

RFM_PREFIX, LIFECYCLE_PREFIX = "rfm:", "lifecycle:"

PROFILE_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("first_seen_at", pa.timestamp("us", tz="UTC")),
        ("last_order_at", pa.timestamp("us", tz="UTC")),
        ("last_cancelled_at", pa.timestamp("us", tz="UTC")),
        ("orders_count", pa.int64()),
        ("revenue", pa.float64()),
    ]
)


@dataclass(frozen=True)
class ProfileSegments:
    """A profile's RFM segment, scores and lifecycle stage, as a run computes them and as the profile stores them."""

    rfm_segment: str
    lifecycle_stage: str
    r_score: int | None = None
    f_score: int | None = None
    m_score: int | None = None
    recency_days: int | None = None

    @property
    def memberships(self) -> frozenset[str]:
        return frozenset({RFM_PREFIX + self.rfm_segment, LIFECYCLE_PREFIX + self.lifecycle_stage})


class Membership(NamedTuple):
    segment: str
    profile_id: str


class SegmentRepository(Protocol):
    def load_profiles(self) -> tuple[pa.Table, dict[str, ProfileSegments]]:
        """Every profile as PROFILE_SCHEMA rows, and the segments each stores (absent if never scored)."""
        ...

    def move_memberships(self, entered: list[Membership], exited: list[Membership]) -> None: ...

    def save_cut_points(self, cut_points: RfmCutPoints) -> None: ...

    def save_segments(self, profile_id: str, segments: ProfileSegments, computed_at: datetime) -> None: ...
