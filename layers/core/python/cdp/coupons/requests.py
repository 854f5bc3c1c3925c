"""A request to issue a coupon, as a journey step or the sending service's template context sends it (pure pydantic)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cdp.messaging.requests import Channel, Purpose

OCCASION_PATTERN = r"^[A-Za-z0-9_.:#@/-]{1,200}$"


class Carrier(BaseModel):
    """A message that will carry the code: its channel and purpose decide whether it can reach the person."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel
    purpose: Purpose = "marketing"


class CouponRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    offer: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    profile_id: str = Field(min_length=1, max_length=128)
    occasion_key: str = Field(pattern=OCCASION_PATTERN)  # e.g. the journey execution and step
    carriers: list[Carrier] = Field(default_factory=list, max_length=8)  # none: no message carries it, no check
