"""One segment run: score every profile, then move, announce and save only what changed since the last run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from cdp.events import DomainEvent
from cdp.segments.ports import LIFECYCLE_PREFIX, RFM_PREFIX, Membership, ProfileSegments, SegmentRepository
from cdp.segments.rfm import score_profiles
from cdp.segments.rfm_cut_points import rfm_cut_points

SEGMENT_EVENTS_SOURCE = "cdp.segments"


@dataclass
class SegmentRun:
    profiles: int
    sizes: dict[str, int]
    entered: list[Membership] = field(default_factory=list)
    exited: list[Membership] = field(default_factory=list)
    profiles_saved: int = 0


def compute_segments(
    store: SegmentRepository, as_of: datetime, publish_events: Callable[[list[DomainEvent]], object]
) -> SegmentRun:
    """Score every profile as of `as_of`; move memberships, publish Segment Entered/Exited, save changed scores.

    The saved scores are the record of what was announced, so they are written last: a run that fails part-way
    leaves them as they were, and the next run finds the same changes, re-applies the idempotent membership writes
    and publishes again. Events are delivered at least once, never lost.
    """
    profiles, stored = store.load_profiles()
    scored = score_profiles(profiles, as_of)
    run = SegmentRun(profiles=profiles.num_rows, sizes=_segment_sizes(scored))
    events: list[DomainEvent] = []
    changed: dict[str, ProfileSegments] = {}
    for profile_id, segments in _segments_by_profile(scored):
        previous = stored.get(profile_id)
        held = previous.memberships if previous else frozenset()
        run.entered += [Membership(name, profile_id) for name in sorted(segments.memberships - held)]
        run.exited += [Membership(name, profile_id) for name in sorted(held - segments.memberships)]
        events += _transition_events(profile_id, held, segments.memberships)
        if segments != previous:
            changed[profile_id] = segments
    store.move_memberships(run.entered, run.exited)
    store.save_cut_points(rfm_cut_points(profiles, scored, as_of))
    publish_events(events)
    for profile_id, segments in changed.items():
        store.save_segments(profile_id, segments, as_of)
    run.profiles_saved = len(changed)
    return run


def _segments_by_profile(scored: pa.Table) -> Iterator[tuple[str, ProfileSegments]]:
    names = [column.name for column in fields(ProfileSegments)]
    for row in scored.select(["profile_id", *names]).to_pylist():
        yield row.pop("profile_id"), ProfileSegments(**row)


def _segment_sizes(scored: pa.Table) -> dict[str, int]:
    """Members per segment name, `rfm:` and `lifecycle:` alike, in name order."""
    sizes: dict[str, int] = {}
    for prefix, column in ((RFM_PREFIX, "rfm_segment"), (LIFECYCLE_PREFIX, "lifecycle_stage")):
        for counted in pc.value_counts(scored[column]).to_pylist():
            sizes[prefix + counted["values"]] = counted["counts"]
    return dict(sorted(sizes.items()))


def _transition_events(profile_id: str, held: frozenset[str], now_held: frozenset[str]) -> list[DomainEvent]:
    """A Segment Exited per membership lost and a Segment Entered per membership gained; `previous` is all held."""
    previous = sorted(held)
    transitions = [("Segment Exited", name) for name in sorted(held - now_held)]
    transitions += [("Segment Entered", name) for name in sorted(now_held - held)]
    return [
        DomainEvent(
            source=SEGMENT_EVENTS_SOURCE,
            detail_type=detail_type,
            detail={"profile_id": profile_id, "segment": name, "previous": previous},
        )
        for detail_type, name in transitions
    ]
