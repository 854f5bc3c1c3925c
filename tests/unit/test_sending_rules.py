"""The sending rules as pure decisions: quiet hours in the person's time zone, the zone inferred from activity, and
the frequency cap's earliest slot in priority order."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from cdp.messaging.rules import FrequencyCap, QuietHours, inferred_offset, zone_of
from cdp.profiles.read import profile_view

QUIET = QuietHours(time(21, 0), time(9, 0))


@pytest.mark.parametrize(
    ("utc", "zone", "opens"),
    [
        ("2026-12-03T03:00", "Asia/Shanghai", "2026-12-03T03:00"),  # 11:00 in Shanghai: allowed
        ("2026-12-03T14:00", "Asia/Shanghai", "2026-12-04T01:00"),  # 22:00 there: until 09:00 (01:00 UTC)
        ("2026-12-03T18:00", "America/Los_Angeles", "2026-12-03T18:00"),  # 10:00 there
        ("2026-12-03T06:00", "America/Los_Angeles", "2026-12-03T17:00"),  # 22:00 the day before: until 09:00 PST
        ("2026-12-03T07:00", "Europe/Berlin", "2026-12-03T08:00"),  # 08:00 CET: an hour to go
        ("2026-07-03T06:30", "Europe/Berlin", "2026-07-03T07:00"),  # 08:30 CEST: summer time
        ("2026-12-03T21:00", "Europe/Berlin", "2026-12-04T08:00"),  # 22:00 CET
    ],
)
def test_quiet_hours_end_at_nine_local_time(utc: str, zone: str, opens: str) -> None:
    # Given
    profile = profile_view({"profile_id": "p", "timezone": zone})
    moment = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    # When
    allowed = QUIET.next_allowed(moment, zone_of(profile, "Europe/London"))
    # Then
    assert allowed == datetime.fromisoformat(opens).replace(tzinfo=UTC)


def test_a_window_within_one_day_and_an_empty_one() -> None:
    # Given / When / Then
    lunch = QuietHours(time(12, 0), time(14, 0))
    assert lunch.next_allowed(datetime(2026, 12, 3, 13, tzinfo=UTC), UTC) == datetime(2026, 12, 3, 14, tzinfo=UTC)
    assert lunch.next_allowed(datetime(2026, 12, 3, 15, tzinfo=UTC), UTC) == datetime(2026, 12, 3, 15, tzinfo=UTC)
    never = QuietHours(time(0, 0), time(0, 0))
    assert never.next_allowed(datetime(2026, 12, 3, 3, tzinfo=UTC), UTC) == datetime(2026, 12, 3, 3, tzinfo=UTC)


def test_the_zone_is_inferred_from_activity_hours_when_the_profile_has_none() -> None:
    # Given: events in the UTC hours 01 to 13, i.e. from 09:00 to 22:00 in China (UTC+8)
    hours = {f"{hour:02d}": 5 for hour in range(1, 14)}
    profile = profile_view({"profile_id": "p", "active_hours": hours})
    # When
    zone = zone_of(profile, "Europe/London")
    # Then
    assert zone.utcoffset(None) == timedelta(hours=8)


def test_too_little_activity_or_a_bad_zone_falls_back_to_the_shop() -> None:
    # Given / When / Then
    assert inferred_offset({"03": 2}, UTC) is None
    sparse = profile_view({"profile_id": "p", "timezone": "Mars/Olympus", "active_hours": {"03": 2}})
    assert str(zone_of(sparse, "Asia/Shanghai")) == "Asia/Shanghai"
    assert zone_of(profile_view({"profile_id": "p", "timezone": "America/Los_Angeles"}), "UTC").utcoffset(
        datetime(2026, 12, 3)) == timedelta(hours=-8)  # fmt: skip
    assert UTC == zone_of(profile_view({"profile_id": "p"}), "Nowhere/Land")


def test_the_cap_frees_a_slot_when_the_oldest_send_leaves_the_window_higher_priority_first() -> None:
    # Given: 2 a week, sent 6 and 2 days ago
    cap = FrequencyCap(limit=2, window=timedelta(days=7))
    now = datetime(2026, 12, 10, 12, tzinfo=UTC)
    sent = [now - timedelta(days=6), now - timedelta(days=2)]
    # When
    urgent, routine = cap.next_allowed(now, sent, 100), cap.next_allowed(now, sent, 10)
    # Then: tomorrow, the urgent one 90 s before the routine one
    assert urgent == now + timedelta(days=1)
    assert routine - urgent == timedelta(seconds=90)
    assert cap.next_allowed(now, sent[:1], 50) == now
    assert cap.next_allowed(now, [now - timedelta(days=8)] * 5, 50) == now
