"""What messaging needs from AWS: a sender of raw MIME email and of SMS text, each returning the provider's id."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class MessageSender(Protocol):
    def send_email(self, sender: str, recipient: str, raw_mime: bytes) -> str: ...

    def send_sms(self, phone_number: str, text: str) -> str: ...


# ---- feedback: the suppression list, unsubscribe links, message events and the stores behind them ----
class SuppressionList(Protocol):
    """Addresses no message may go to, and why (hard_bounce, complaint, unsubscribed, sms_opt_out, erased).

    `purpose` (default marketing): `unsubscribed` stops marketing only; the other reasons stop every purpose.
    """

    def reason(self, profile_id: str, channel: str, address: str, purpose: str = "marketing") -> str | None: ...

    def add(self, profile_id: str, channel: str, address: str, reason: str, at: datetime) -> None: ...


class UnsubscribeLinks(Protocol):
    """The signed, expiring one-click unsubscribe URL a marketing message carries (RFC 8058)."""

    def link(self, profile_id: str, channel: str, purpose: str = "marketing") -> str: ...


class MessageEvents(Protocol):
    """Rows of the curated `messages` entity (one per outcome or feedback event)."""

    def record(self, rows: list[dict[str, Any]]) -> None: ...


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

