"""Decides whether a journey step may message a profile now: consent, reachability, once-only, rules, quiet hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from cdp.privacy.consent import consent_granted

QUIET_HOURS_START = time(21, 0)
QUIET_HOURS_END = time(9, 0)
CHANNEL_ADDRESS = {"email": "email", "sms": "phone"}


class StepRules(BaseModel):
    """Per-step conditions a journey definition may set."""

    max_signup_age_days: int | None = Field(default=None, ge=1)
    require_no_orders: bool = False


class EligibilityRequest(BaseModel):
    journey: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    step: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    channel: str = Field(pattern=r"^(email|sms)$")
    purpose: str = Field(default="marketing", pattern=r"^(marketing|transactional)$")
    profile_id: str = Field(min_length=1, max_length=64)
    execution_id: str = Field(min_length=1)
    rules: StepRules = Field(default_factory=StepRules)


@dataclass(frozen=True)
class Decision:
    eligible: bool
    reason: str
    wait_seconds: int = 0


def seconds_until_send_window(now: datetime, timezone_name: str | None) -> int:
    """Seconds to wait so a message does not arrive in the recipient's quiet hours (21:00-09:00 local)."""
    try:
        zone = ZoneInfo(timezone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    if QUIET_HOURS_END <= local.time() < QUIET_HOURS_START:
        return 0
    next_open = local.replace(hour=QUIET_HOURS_END.hour, minute=0, second=0, microsecond=0)
    if local.time() >= QUIET_HOURS_START:
        next_open += timedelta(days=1)
    return int((next_open - local).total_seconds())


def decide(
    request: EligibilityRequest, profile: dict[str, Any] | None, previous_send: dict[str, Any] | None, now: datetime
) -> Decision:
    """The first rule that forbids the message names the reason; otherwise eligible, after quiet hours."""
    if profile is None:
        return Decision(False, "profile_not_found")
    if previous_send is not None and previous_send.get("status") in ("sent", "sending"):
        return Decision(False, "already_sent")
    if not profile.get(CHANNEL_ADDRESS[request.channel]):
        return Decision(False, f"no_{CHANNEL_ADDRESS[request.channel]}")
    if not consent_granted(profile.get("consent"), request.channel, request.purpose):
        return Decision(False, "no_consent")
    rules = request.rules
    if rules.max_signup_age_days is not None:
        signed_up_at = profile.get("signed_up_at")
        if not signed_up_at or datetime.fromisoformat(signed_up_at) < now - timedelta(days=rules.max_signup_age_days):
            return Decision(False, "not_a_new_customer")
    if rules.require_no_orders and int(profile.get("orders_count", 0)) > 0:
        return Decision(False, "already_ordered")
    return Decision(True, "eligible", seconds_until_send_window(now, profile.get("timezone")))
