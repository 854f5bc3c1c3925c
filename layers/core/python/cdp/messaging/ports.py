"""What the sending service needs from storage and providers, as small Protocols (adapters implement them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cdp.messaging.requests import MessageRequest, SendOutcome

__all__ = ["MessageRequest", "SendOutcome", "record_status"]


@dataclass(frozen=True)
class RenderedMessage:
    """A template rendered for one person: `subject` (email subject / push title), text, HTML (email only), and the
    one-click unsubscribe URL email headers carry (marketing only)."""

    subject: str
    text: str
    html: str = ""
    unsubscribe_url: str | None = None


class ProviderError(Exception):
    """The provider refused the send; `code` names why (its error code). Nothing was delivered. `retryable`: the
    refusal is passing (throttling, unavailable), so the same request may be tried again later."""

    def __init__(self, code: str, retryable: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable


class Channel(Protocol):
    """One way to reach a person (email, sms, push, webhook): delivers and returns the provider's message id."""

    def send(self, address: str, rendered: RenderedMessage) -> str: ...


ReadProfile = Callable[[str], dict[str, Any] | None]
"""Profile id -> the live profile item (strongly consistent read, merge redirects followed), None if there is none."""


class SuppressionList(Protocol):
    def reason(self, profile_id: str, channel: str, address: str) -> str | None:
        """Why this address may not be messaged on this channel (hard_bounce, complaint, unsubscribed, sms_opt_out,
        erased), or None."""
        ...

    def add(self, profile_id: str, channel: str, address: str, reason: str, at: datetime) -> None: ...


class UnsubscribeLinks(Protocol):
    def link(self, profile_id: str, channel: str) -> str:
        """The one-click unsubscribe URL for this person and channel."""
        ...


class SendRecords(Protocol):
    """The send record per (profile, request key): claimed before the provider call, its outcome after."""

    def claim(self, request: MessageRequest, token: str, now: datetime) -> dict[str, Any] | None:
        """Claim the send (conditional write); None when claimed, else the record that stopped the claim."""
        ...

    def finish(self, request: MessageRequest, token: str, outcome: SendOutcome, now: datetime) -> None:
        """Record the outcome of this claim (the claim's token must still be on the record)."""
        ...

    def settle(self, request: MessageRequest, outcome: SendOutcome, now: datetime) -> dict[str, Any] | None:
        """Record a decision made without a claim (skipped, deferred), never over a sent or claimed record; None when
        written, else the record that stopped it."""
        ...

    def mark_unknown(self, request: MessageRequest, token: str, now: datetime) -> bool:
        """Turn a stale claim (this token) into `unknown`; False if another writer got there first."""
        ...

    def recent_marketing_sends(self, profile_id: str, channel: str, since: datetime) -> list[datetime]:
        """When the profile's marketing messages on this channel were sent (or claimed) since `since`."""
        ...


class MessageEvents(Protocol):
    def record(self, rows: list[dict[str, Any]]) -> None:
        """Append rows to the curated `messages` entity (one per outcome, assignment or feedback)."""
        ...


class DeferredMessages(Protocol):
    """Campaign requests held back by the frequency cap or quiet hours, re-sent when due by the minute sweeper."""

    def defer(self, request: MessageRequest, until: datetime) -> None: ...

    def due(self, now: datetime, limit: int) -> Sequence[tuple[MessageRequest, datetime]]: ...

    def done(self, request: MessageRequest, until: datetime) -> None: ...


def record_status(outcome: SendOutcome) -> str:
    """The send record's status for an outcome: its status, or `unknown` for a send that may or may not have gone."""
    return "unknown" if outcome.reason == "unknown" else outcome.status
