"""Exact-time conditions: per-profile timers in minute buckets, and the sweep that fires them.

A live segment whose verdict can change by the clock alone (cdp.segments.realtime.next_change) gets one timer per
profile, in the bucket of the first whole minute at or after that instant (`TIMER#<YYYY-MM-DDTHH:MM>` /
`<segment>#<profile>`). Whenever the profile changes, its live segments are decided again and each timer is moved
(a later order moves "no order for 30 days" thirty days on) or cleared, in the same conditional write as the
memberships (cdp.segments.live). Every minute a schedule runs `sweep`: it takes each bucket from the one after the
last finished sweep up to the current minute (so a missed minute is caught up), and for every profile with a due
timer decides its live segments again on the profile as stored now, with trigger `timer`. The write that records
the new verdict also moves or deletes the due timers, conditional on the profile's memberships version, so two
overlapping sweeps fire a timer once. Catch-up is bounded (`MAX_CATCH_UP_MINUTES` a run); older buckets wait for the
next runs. `now` is the schedule's tick time: a sweep decides at the minute it stands for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cdp.events import DomainEvent
from cdp.segments.live_ports import LiveSegmentStore

MINUTE = timedelta(minutes=1)
MINUTE_FORMAT = "%Y-%m-%dT%H:%M"
MAX_CATCH_UP_MINUTES = 24 * 60
FIRST_SWEEP_MINUTES = 60  # the first sweep (no mark yet) also takes the hour before it


def minute_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def bucket_of(moment: datetime) -> str:
    """The bucket of the first whole minute at or after `moment` (the first sweep that sees the new verdict)."""
    floor = minute_floor(moment)
    return (floor if floor == moment else floor + MINUTE).strftime(MINUTE_FORMAT)


def minute_of(bucket: str) -> datetime:
    return datetime.strptime(bucket, MINUTE_FORMAT).replace(tzinfo=UTC)


@dataclass
class Sweep:
    """What one sweep did: the buckets it took, the timers due in them, and the profiles' transitions."""

    buckets: list[str] = field(default_factory=list)
    timers: int = 0
    entered: int = 0
    exited: int = 0
    dropped: int = 0
    events: list[DomainEvent] = field(default_factory=list)


def buckets_due(swept_until: str | None, now: datetime) -> list[str]:
    """The buckets after the last finished one up to now's minute, oldest first and at most MAX_CATCH_UP_MINUTES
    (before the first sweep: the last FIRST_SWEEP_MINUTES)."""
    last = minute_floor(now)
    first = last - (FIRST_SWEEP_MINUTES - 1) * MINUTE if swept_until is None else minute_of(swept_until) + MINUTE
    count = min(int((last - first) / MINUTE) + 1, MAX_CATCH_UP_MINUTES)
    return [(first + step * MINUTE).strftime(MINUTE_FORMAT) for step in range(max(count, 0))]


def sweep(
    store: LiveSegmentStore,
    fire: Callable[[dict[str, object], datetime], list[DomainEvent]],
    now: datetime,
    publish: Callable[[list[DomainEvent]], object],
) -> Sweep:
    """Fire every timer due up to `now`: per profile, `fire(profile item, now)` decides its live segments again and
    writes the outcome (moving the due timers); the events are published after each bucket, then the bucket is
    marked done. A profile that no longer exists (erased, merged away) has its timers dropped."""
    result = Sweep()
    for bucket in buckets_due(store.swept_until(), now):
        timers = store.due_timers(bucket)
        result.buckets.append(bucket)
        result.timers += len(timers)
        events: list[DomainEvent] = []
        for profile_id in dict.fromkeys(timer.profile_id for timer in timers):
            profile = store.profile(profile_id)
            if profile is None or "redirect_to" in profile:
                for timer in timers:
                    if timer.profile_id == profile_id:
                        store.drop_timer(timer)
                        result.dropped += 1
                continue
            events += fire(profile, now)
        publish(events)
        result.events += events
        result.entered += sum(event.detail_type == "Segment Entered" for event in events)
        result.exited += sum(event.detail_type == "Segment Exited" for event in events)
        store.mark_swept(bucket)
    return result
