"""A customer's own calendar: today in their time zone, their anniversaries (birthdays), and local midnights.

Pure standard library (zoneinfo), shared by the batch evaluator and the real-time one. A profile's `timezone` is an
IANA name; a missing or unknown one means UTC. A 29 February anniversary falls on 28 February in other years.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@cache
def zone(name: str | None) -> tzinfo:
    """The named IANA zone, or UTC when the name is missing or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_today(now: datetime, timezone: str | None) -> date:
    return now.astimezone(zone(timezone)).date()


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def anniversary_in(day: date, year: int) -> date:
    """The anniversary of `day` in `year` (29 February: 28 February outside leap years)."""
    if day.month == 2 and day.day == 29 and not _is_leap(year):
        return date(year, 2, 28)
    return date(year, day.month, day.day)


def is_anniversary(day: date, today: date) -> bool:
    return anniversary_in(day, today.year) == today


def local_midnight(day: date, timezone: str | None) -> datetime:
    """The instant (UTC) the local `day` begins in the zone."""
    return datetime.combine(day, time(0), zone(timezone)).astimezone(UTC)


def next_anniversary_change(day: date, now: datetime, timezone: str | None) -> datetime:
    """The next instant after `now` at which "today is the anniversary of `day`" changes in the zone: the local
    midnight ending today if it is the anniversary, else the one starting the next anniversary."""
    today = local_today(now, timezone)
    if is_anniversary(day, today):
        return local_midnight(today + timedelta(days=1), timezone)
    upcoming = anniversary_in(day, today.year)
    if upcoming <= today:
        upcoming = anniversary_in(day, today.year + 1)
    return local_midnight(upcoming, timezone)


def next_day_of_month_change(day_of_month: int, now: datetime, timezone: str | None) -> datetime:
    """The next instant after `now` at which "today is this day of the month" changes in the zone: the local
    midnight ending today if it is that day, else the one starting the next month that has the day."""
    today = local_today(now, timezone)
    if today.day == day_of_month:
        return local_midnight(today + timedelta(days=1), timezone)
    year, month = today.year, today.month
    if today.day > day_of_month:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    while day_of_month > calendar.monthrange(year, month)[1]:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return local_midnight(date(year, month, day_of_month), timezone)
