"""One message to one profile and what became of it: the sending service's request and outcome (pure pydantic)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cdp.keys import message_request_key

Channel = Literal["email", "sms", "push", "webhook"]
Purpose = Literal["marketing", "transactional"]
GuardName = Literal["no_order_since", "cart_still_open", "still_in_segment", "consent_still_given"]
NAME_PATTERN = r"^[a-z0-9_]+$"
OCCURRENCE_PATTERN = r"^[A-Za-z0-9_.:-]+$"  # a Step Functions execution name or a campaign run id, never '#'
MAX_CONTEXT_BYTES = 16_384

# Each guard's parameters: which are required, which are allowed.
GUARD_PARAMS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "no_order_since": (frozenset({"since"}), frozenset({"since"})),
    "cart_still_open": (frozenset(), frozenset()),
    "still_in_segment": (frozenset({"segment"}), frozenset({"segment"})),
    "consent_still_given": (frozenset(), frozenset({"channel", "purpose"})),
}


class Guard(BaseModel):
    """A condition re-checked at the moment of sending; the message is skipped as `guard:<name>` when it fails.

    `no_order_since` {since: ISO time}: no order after `since`; `cart_still_open`: the cart is still open (not
    bought, not emptied); `still_in_segment` {segment}: the profile is still a member; `consent_still_given`
    {channel?, purpose?}: consent still granted (defaults: the request's channel and purpose).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: GuardName
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_params(self) -> Guard:
        required, allowed = GUARD_PARAMS[self.name]
        missing = sorted(required - self.params.keys())
        unknown = sorted(self.params.keys() - allowed)
        if missing:
            raise ValueError(f"guard {self.name} needs {', '.join(missing)}")
        if unknown:
            raise ValueError(f"guard {self.name} takes no {', '.join(unknown)}")
        if self.name == "no_order_since":
            datetime.fromisoformat(str(self.params["since"]))  # a malformed time fails here, not at send time
        if self.name == "still_in_segment" and not isinstance(self.params["segment"], str):
            raise ValueError("guard still_in_segment: segment must be a segment name")
        return self


class MessageRequest(BaseModel):
    """One message to one profile, from a journey step or a campaign. `key()` makes it exactly-once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile_id: str = Field(min_length=1, max_length=64)
    origin: Literal["journey", "campaign"]
    origin_name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    step: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    occurrence: str = Field(min_length=1, max_length=128, pattern=OCCURRENCE_PATTERN)
    variant: str = Field(default="main", min_length=1, max_length=32, pattern=NAME_PATTERN)
    channel: Channel
    purpose: Purpose = "marketing"
    template: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    priority: int = Field(default=50, ge=0, le=100)
    expires_at: AwareDatetime | None = None
    guards: list[Guard] = Field(default_factory=list, max_length=8)
    context: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounded_context(self) -> MessageRequest:
        size = len(json.dumps(self.context, default=str))
        if size > MAX_CONTEXT_BYTES:
            raise ValueError(f"context is {size} bytes, more than {MAX_CONTEXT_BYTES}")
        return self

    def key(self) -> str:
        """`<origin>#<origin_name>#<step>#<occurrence>`: the same message, however often it is asked for."""
        return message_request_key(self.origin, self.origin_name, self.step, self.occurrence)


class SendOutcome(BaseModel):
    """What the sending service did with a request. `reason` is one of: sent, no_consent, suppressed:<why>,
    no_address, expired, guard:<name>, already_sent, profile_not_found, frequency_cap, quiet_hours,
    provider_error:<code> (and `unknown` for a send interrupted between claim and outcome, never resent)."""

    status: Literal["sent", "skipped", "deferred", "failed"]
    reason: str
    message_id: str | None = None
    defer_until: datetime | None = None
    wait_seconds: int = 0

