"""What live segments need from storage: the profile as it is now, the stored RFM cut points (cdp.segments.cut_points),
one conditional write of a profile's membership and timer changes, and the minute buckets of due timers; and the
values they exchange. Pure: no pyarrow, no boto3."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

Trigger = Literal["realtime", "timer", "scheduled"]


@dataclass(frozen=True)
class RfmCutPoints:
    """The quintile boundaries of the last scheduled run: a value beats `thresholds[k-2]` to score k or more.

    For F and M (more is better) score >= k when the value is above the threshold; for recency (fewer days is better)
    when it is below. A missing threshold means every buyer reaches that score (too few buyers to split)."""

    recency_days: tuple[float | None, ...]
    orders_count: tuple[float | None, ...]
    revenue: tuple[float | None, ...]
    computed_at: str

    def score(self, name: str, value: float) -> int:
        if name == "recency_days":
            return 1 + sum(threshold is None or value < threshold for threshold in self.recency_days)
        thresholds = self.orders_count if name == "orders_count" else self.revenue
        return 1 + sum(threshold is None or value > threshold for threshold in thresholds)

    def as_item(self) -> dict[str, Any]:
        return {"recency_days": list(self.recency_days), "orders_count": list(self.orders_count),
                "revenue": list(self.revenue), "computed_at": self.computed_at}  # fmt: skip

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RfmCutPoints:
        def thresholds(name: str) -> tuple[float | None, ...]:
            return tuple(None if value is None else float(value) for value in item[name])

        return cls(thresholds("recency_days"), thresholds("orders_count"), thresholds("revenue"), str(item["computed_at"]))


class Timer(NamedTuple):
    """One due check: at `minute` (`YYYY-MM-DDTHH:MM`, UTC), re-check `segment` for `profile_id`."""

    minute: str
    segment: str
    profile_id: str


@dataclass
class MembershipChange:
    """A profile's new live memberships and timers, written only if its `memberships_version` is still `version`.

    `memberships` and `timers` are the whole new maps (segment -> {"at", "trigger"}, segment -> minute); `entered`,
    `exited`, `timers_set` and `timers_cleared` are what differs from the stored ones (the segment items and timer
    items to put and delete)."""

    profile_id: str
    version: int | None
    memberships: dict[str, dict[str, str]]
    timers: dict[str, str]
    entered: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)
    timers_set: list[Timer] = field(default_factory=list)
    timers_cleared: list[Timer] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.entered or self.exited or self.timers_set or self.timers_cleared)


class LiveSegmentStore(Protocol):
    def profile(self, profile_id: str) -> dict[str, Any] | None:
        """The profile item as stored now (consistent read), or None."""
        ...

    def cut_points(self) -> RfmCutPoints | None:
        """The RFM quintile cut points the last scheduled run stored, or None before the first run."""
        ...

    def write(self, change: MembershipChange) -> bool:
        """Write the change atomically (profile maps, segment items, timer items); False when the profile's
        memberships version moved (someone else wrote first: re-read and decide again)."""
        ...

    def due_timers(self, minute: str) -> list[Timer]:
        """The timers of one minute bucket."""
        ...

    def drop_timer(self, timer: Timer) -> None:
        """Delete a timer whose profile is gone (erased or merged away)."""
        ...

    def swept_until(self) -> str | None:
        """The last minute bucket every sweep has finished, or None before the first."""
        ...

    def mark_swept(self, minute: str) -> None:
        """Record that buckets up to `minute` are done (never moves backwards)."""
        ...
