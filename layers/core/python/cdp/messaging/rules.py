"""The sending rules as pure decisions over the typed profile: guards, consent, address, frequency cap and quiet
hours. The service (`cdp.messaging.service`) applies them in order and records the first that stops a message.

Quiet hours are read in the person's time zone: the profile's `timezone`, else one inferred from their activity
hours (given enough events, the whole-hour UTC offset that puts the least activity near the middle of their night,
03:30 local, each event weighted by its closeness to it; ties go to the offset nearest the shop's), else the shop's. The frequency cap allows `limit` marketing messages per
channel in any rolling `window`; a message over it waits until the oldest one in the window leaves it, staggered by
priority (100 - priority seconds) so that, when a slot frees, higher-priority messages try first and take it. A send
takes its slot in the person's `CapWindow` with its claim, in one conditional write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdp.messaging.ports import CapWindow, SuppressionList
from cdp.messaging.requests import Guard, MessageRequest
from cdp.privacy.consent import consent_granted
from cdp.profiles.model import Profile

MIDDLE_OF_THE_NIGHT = 3.5  # local hour people act least in, used to infer a time zone from activity
NIGHT_HALF_WIDTH = 6.0
MIN_EVENTS_TO_INFER_ZONE = 10
OPEN_CART_STATUSES = frozenset({"open", "checkout_started"})


@dataclass(frozen=True)
class QuietHours:
    """No marketing message between `start` and `end` local time (the window may span midnight)."""

    start: time
    end: time

    def is_quiet(self, local: datetime) -> bool:
        moment = local.time()
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def next_allowed(self, moment: datetime, zone: tzinfo) -> datetime:
        """`moment` itself if it is outside quiet hours in `zone`, else the end of the quiet window (UTC)."""
        local = moment.astimezone(zone)
        if not self.is_quiet(local):
            return moment
        opens = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if opens <= local:
            opens += timedelta(days=1)
        return opens.astimezone(moment.tzinfo)


@dataclass(frozen=True)
class FrequencyCap:
    """At most `limit` marketing messages per person and channel in any rolling `window`."""

    limit: int
    window: timedelta

    def next_allowed(self, moment: datetime, sent_at: Sequence[datetime], priority: int) -> datetime:
        """`moment` if a slot is free, else when the oldest message in the window leaves it, staggered by priority."""
        in_window = sorted(at for at in sent_at if at > moment - self.window)
        if len(in_window) < self.limit:
            return moment
        frees_at = in_window[len(in_window) - self.limit] + self.window
        return frees_at + timedelta(seconds=100 - priority)

    def with_send(self, window: CapWindow, token: str, now: datetime) -> CapWindow:
        """The window once this send (`token`) takes a slot at `now`: the sends that left the rolling window dropped,
        this one added, at the version read (which the claim's condition checks)."""
        kept = {other: at for other, at in window.sends.items() if at > now - self.window}
        return CapWindow({**kept, token: now}, window.version)


def address_of(profile: Profile, channel: str) -> str | None:
    """Where a channel reaches this person: email, E.164 phone, push endpoint ARN, or the profile id (webhook)."""
    if channel == "email":
        return profile.identity.email
    if channel == "sms":
        return profile.identity.phone
    if channel == "push":
        return profile.identity.push_endpoint
    return profile.identity.customer_id or profile.identity.profile_id


def failed_guard(guards: Sequence[Guard], profile: Profile, request: MessageRequest) -> str | None:
    """The name of the first guard that no longer holds, or None."""
    for guard in guards:
        if not _holds(guard, profile, request):
            return guard.name
    return None


def _holds(guard: Guard, profile: Profile, request: MessageRequest) -> bool:
    if guard.name == "no_order_since":
        since = datetime.fromisoformat(str(guard.params["since"]))
        last = profile.behaviour.last_order_at
        return last is None or _aware(datetime.fromisoformat(last)) <= _aware(since)
    if guard.name == "cart_still_open":
        return profile.behaviour.cart_status in OPEN_CART_STATUSES
    if guard.name == "still_in_segment":
        return guard.params["segment"] in profile.memberships
    channel = str(guard.params.get("channel", request.channel))
    purpose = str(guard.params.get("purpose", request.purpose))
    return consent_granted(_consent(profile), channel, purpose)


def may_receive(profile: Profile, channel: str, purpose: str) -> bool:
    """Consent for this channel and purpose: an explicit grant for marketing; transactional unless refused."""
    return consent_granted(_consent(profile), channel, purpose)


def unreachable_reason(profile: Profile, channel: str, purpose: str, suppressions: SuppressionList) -> str | None:
    """Why a message of this channel and purpose cannot reach the person, or None: no consent (`no_consent`), the
    address suppressed (`suppressed:<why>`), no address (`no_address`). The sending service's rules 5-7, and what a
    coupon step checks before it spends a code on someone its message could not reach."""
    if not may_receive(profile, channel, purpose):
        return "no_consent"
    address = address_of(profile, channel)
    if not address:
        return "no_address"
    suppressed = suppressions.reason(profile.identity.profile_id, channel, address, purpose)
    return f"suppressed:{suppressed}" if suppressed else None


def _consent(profile: Profile) -> dict[str, dict[str, object]]:
    return {key: entry.model_dump(exclude_none=True) for key, entry in profile.consent.items()}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def zone_of(profile: Profile, shop_zone: str) -> tzinfo:
    """The person's time zone: the profile's, else inferred from their activity hours, else the shop's."""
    named = _zone(profile.attributes.timezone)
    if named is not None:
        return named
    default = _zone(shop_zone) or UTC
    inferred = inferred_offset(profile.behaviour.active_hours or {}, default)
    return timezone(inferred) if inferred is not None else default


def inferred_offset(active_hours: dict[str, float], default: tzinfo) -> timedelta | None:
    """The whole-hour UTC offset that puts the least activity (counts per UTC hour "00".."23") near 03:30 local."""
    counts = {int(hour): float(count) for hour, count in active_hours.items() if str(hour).isdigit()}
    if sum(counts.values()) < MIN_EVENTS_TO_INFER_ZONE:
        return None
    default_hours = (datetime.now(UTC).astimezone(default).utcoffset() or timedelta()) / timedelta(hours=1)

    def night_activity(offset: int) -> float:
        activity = 0.0
        for hour, count in counts.items():
            distance = abs((hour + offset) % 24 + 0.5 - MIDDLE_OF_THE_NIGHT)
            activity += count * max(0.0, NIGHT_HALF_WIDTH - min(distance, 24 - distance))
        return activity

    best = min(range(-11, 15), key=lambda offset: (night_activity(offset), abs(offset - default_hours)))
    return timedelta(hours=best)


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
