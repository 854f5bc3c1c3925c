"""What the sending service needs from storage and providers, as small Protocols (adapters implement them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cdp.messaging.requests import MessageRequest, SendOutcome

__all__ = ["MessageRequest", "SendOutcome", "record_status"]


@dataclass(frozen=True)
class RenderedMessage:
    """A template rendered for one person: `subject` (email subject / push title), text, HTML (email only), and the
    one-click unsubscribe URL email headers carry (marketing only), and the tags a provider hands back with its
    feedback about the message (SES EmailTags: `profile_id`, `message_key`), so feedback finds the send record."""

    subject: str
    text: str
    html: str = ""
    unsubscribe_url: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


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
    """Addresses no message may go to, and why (hard_bounce, complaint, unsubscribed, sms_opt_out, erased).

    `purpose` (default marketing): `unsubscribed` stops marketing only; the other reasons stop every purpose.
    """

    def reason(self, profile_id: str, channel: str, address: str, purpose: str = "marketing") -> str | None: ...

    def add(self, profile_id: str, channel: str, address: str, reason: str, at: datetime) -> None: ...


class UnsubscribeLinks(Protocol):
    """The signed, expiring one-click unsubscribe URL a marketing message carries (RFC 8058)."""

    def link(self, profile_id: str, channel: str, purpose: str = "marketing") -> str: ...


@dataclass(frozen=True)
class CapWindow:
    """The marketing sends one person's channel counts against its frequency cap: when each was claimed, by the
    claim's token, and the window's version, which a claim taking a slot must still find unchanged (so two senders
    can never both take the last slot)."""

    sends: Mapping[str, datetime] = field(default_factory=dict)
    version: int = 0


class CapWindowChanged(Exception):
    """Another send took or gave back a slot since the window was read: nothing was written; read it again."""


class SendRecords(Protocol):
    """The send record per (profile, request key): claimed before the provider call, its outcome after; and the
    frequency cap's window per (profile, channel), written in the same transaction as a marketing claim."""

    def claim(
        self, request: MessageRequest, token: str, now: datetime, window: CapWindow | None = None
    ) -> dict[str, Any] | None:
        """Claim the send (conditional write); None when claimed, else the record that stopped the claim. With
        `window` (the window as read, this send added), the window is written with the claim, atomically, only if
        its version is still the one read; else `CapWindowChanged` and nothing is written."""
        ...

    def cap_window(self, profile_id: str, channel: str) -> CapWindow:
        """The person's window for a channel as stored (strongly consistent); empty at version 0 if none."""
        ...

    def release(self, profile_id: str, channel: str, token: str) -> None:
        """Give back the slot a claim took when nothing was sent (the window's version moves on)."""
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


# ---- feedback: the stores behind the suppression list and the feedback on send records ----
class SuppressionStore(Protocol):
    """Suppression items by address digest, read together with the erased register's digest in one request."""

    def lookup(self, channel: str, address_digest: str, erased_digest: str) -> tuple[set[str], bool]: ...

    def reasons_of(self, channel: str, address_digests: list[str]) -> dict[str, set[str]]: ...

    def add_reason(self, channel: str, address_digest: str, reason: str, at: datetime) -> bool: ...

    def remove_reason(self, channel: str, address_digest: str, reason: str) -> None: ...


class SendRecordFeedback(Protocol):
    """The send records feedback reads and marks (`PROFILE#<id>` / `MESSAGE#<key>`)."""

    def get(self, profile_id: str, message_key: str) -> dict[str, Any] | None: ...

    def mark(self, profile_id: str, message_key: str, event: str, at: datetime, details: dict[str, str]) -> bool: ...

    def find(self, provider_message_id: str) -> tuple[str, str] | None:
        """(profile id, request key) of the send record the provider's message id names, or None."""
        ...
