"""What live segments need from storage: the profile as it is now, the stored RFM cut points, one conditional write of a
profile's membership and timer changes, and the minute buckets of due timers. Pure: no pyarrow, no boto3."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

from cdp.segments.cut_points import RfmCutPoints

Trigger = Literal["realtime", "timer", "scheduled"]


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
