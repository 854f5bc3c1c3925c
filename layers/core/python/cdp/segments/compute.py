"""One segment run: score every profile, store what changed, and say who entered and left which segment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from cdp.adapters.event_bus import DomainEvent
from cdp.segments.rfm import score_profiles

SEGMENT_EVENTS_SOURCE = "cdp.segments"


class SegmentRepository(Protocol):
    def load_profiles(self) -> tuple[pa.Table, dict[str, dict[str, Any]]]: ...
    def save_scores(
        self, profile_id: str, rfm: dict[str, Any], lifecycle_stage: str, computed_at: datetime
    ) -> None: ...
    def move_memberships(self, entered: list[tuple[str, str]], exited: list[tuple[str, str]]) -> None: ...


@dataclass
class SegmentRun:
    profiles: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    entered: list[tuple[str, str]] = field(default_factory=list)
    exited: list[tuple[str, str]] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)


def memberships(rfm_segment: str | None, lifecycle_stage: str | None) -> set[str]:
    """The segment names a profile belongs to: `rfm:<segment>` and `lifecycle:<stage>`."""
    names = set()
    if rfm_segment:
        names.add(f"rfm:{rfm_segment}")
    if lifecycle_stage:
        names.add(f"lifecycle:{lifecycle_stage}")
    return names


def _event(kind: str, profile_id: str, segment: str, previous: set[str]) -> DomainEvent:
    return DomainEvent(
        source=SEGMENT_EVENTS_SOURCE,
        detail_type=f"Segment {kind}",
        detail={"profile_id": profile_id, "segment": segment, "previous": sorted(previous)},
    )


def compute_segments(store: SegmentRepository, as_of: datetime) -> SegmentRun:
    """Score all profiles; write only the profiles and memberships that changed; emit entered/exited events."""
    profiles, current = store.load_profiles()
    run = SegmentRun(profiles=profiles.num_rows)
    for row in score_profiles(profiles, as_of).to_pylist():
        profile_id = row["profile_id"]
        rfm = {"segment": row["rfm_segment"], "r": row["r_score"], "f": row["f_score"], "m": row["m_score"],
               "recency_days": row["recency_days"]}  # fmt: skip
        rfm = {key: value for key, value in rfm.items() if value is not None}
        now_in = memberships(row["rfm_segment"], row["lifecycle_stage"])
        for name in now_in:
            run.sizes[name] = run.sizes.get(name, 0) + 1
        held = current.get(profile_id, {})
        held_rfm = held.get("rfm") or {}
        before = memberships(held_rfm.get("segment"), held.get("lifecycle_stage"))
        stored_rfm = {key: int(value) if key != "segment" else value for key, value in held_rfm.items()}
        if stored_rfm != rfm or held.get("lifecycle_stage") != row["lifecycle_stage"]:
            store.save_scores(profile_id, rfm, row["lifecycle_stage"], as_of)
        for name in sorted(now_in - before):
            run.entered.append((name, profile_id))
            run.events.append(_event("Entered", profile_id, name, before))
        for name in sorted(before - now_in):
            run.exited.append((name, profile_id))
            run.events.append(_event("Exited", profile_id, name, before))
    store.move_memberships(run.entered, run.exited)
    run.sizes = dict(sorted(run.sizes.items()))
    return run
