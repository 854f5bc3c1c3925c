"""In-memory fakes of the domain's ports, for domain tests that read more clearly without moto.

Each keeps what it was given in plain attributes the test can assert on, and implements its port's Protocol
(named in its docstring) with the same semantics as the adapter (e.g. a claim is refused once a message was sent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cdp.events import DomainEvent
from cdp.journeys.ports import JourneyStep


@dataclass
class FakeErasedRegister:
    """The erased register (cdp.privacy.ports.ErasedRegister): digests in a set; counts the reads."""

    erased: set[str] = field(default_factory=set)
    reads: int = 0

    def erased_among(self, digests: Iterable[str]) -> set[str]:
        self.reads += 1
        return self.erased & set(digests)

    def erased_register(self, lookups: int) -> frozenset[str] | None:
        self.reads += 1
        return frozenset(self.erased)

    def erased_by_key(self, digests: Iterable[str]) -> set[str]:
        return self.erased_among(digests)

    def mark_erased(self, digests: Iterable[str], erasure_id: str, erased_at: str) -> None:
        self.erased.update(digests)


@dataclass
class FakeMessageRegister:
    """The replay register (cdp.tracking.ports.Register): ids per source with their expiry."""

    expiries: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def seen(self, source: str, message_ids: Iterable[str], now: datetime) -> set[str]:
        return {i for i in message_ids if self.expiries.get((source, i), now) > now}

    def remember(self, source: str, message_ids: Iterable[str], received_at: datetime, window: timedelta) -> None:
        self.expiries.update({(source, message_id): received_at + window for message_id in message_ids})


@dataclass
class FakeJourneyMessages:
    """The journey message log (cdp.journeys.ports.JourneyMessageLog), keyed by (profile, journey, step)."""

    records: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def get(self, profile_id: str, journey: str, step: str) -> dict[str, Any] | None:
        return self.records.get((profile_id, journey, step))

    def _writable(self, step: JourneyStep) -> bool:
        record = self.get(step.profile_id, step.journey, step.step)
        return (
            record is None
            or record["status"] == "suppressed"
            or (record["status"] == "sending" and record["execution_id"] == step.execution_id)
        )

    def record_suppressed(self, step: JourneyStep, reason: str, now: datetime) -> None:
        if self._writable(step):
            self.records[(step.profile_id, step.journey, step.step)] = {
                "status": "suppressed", "reason": reason, "execution_id": step.execution_id, "channel": step.channel,
            }  # fmt: skip

    def claim(self, step: JourneyStep, now: datetime) -> bool:
        if not self._writable(step):
            return False
        self.records[(step.profile_id, step.journey, step.step)] = {
            "status": "sending", "execution_id": step.execution_id, "channel": step.channel, "decided_at": now.isoformat(),
        }  # fmt: skip
        return True

    def mark_sent(self, profile_id: str, journey: str, step: str, provider_message_id: str, now: datetime) -> None:
        record = self.records[(profile_id, journey, step)]
        record.update(status="sent", provider_message_id=provider_message_id, sent_at=now.isoformat())
        record.pop("reason", None)


@dataclass
class FakeSender:
    """The message sender (cdp.messaging.ports.MessageSender): what was sent, in order."""

    emails: list[tuple[str, str, bytes]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)

    def send_email(self, sender: str, recipient: str, raw_mime: bytes) -> str:
        self.emails.append((sender, recipient, raw_mime))
        return f"email-{len(self.emails)}"

    def send_sms(self, phone_number: str, text: str) -> str:
        self.texts.append((phone_number, text))
        return f"sms-{len(self.texts)}"


@dataclass
class RecordingPublisher:
    """A publisher of domain events: the events, in order."""

    events: list[DomainEvent] = field(default_factory=list)

    def __call__(self, events: Iterable[DomainEvent]) -> int:
        published = list(events)
        self.events += published
        return len(published)


@dataclass
class FakeCampaignSending:
    """The sending service as campaign workers use it (cdp.campaigns.ports.Sending): exactly once per profile and
    key, like the real one (`already_sent`); raises for the profiles in `failing`; defers those in `deferring`."""

    failing: set[str] = field(default_factory=set)
    deferring: set[str] = field(default_factory=set)
    sent: dict[tuple[str, str], str] = field(default_factory=dict)  # (profile, key): variant
    attempts: list[str] = field(default_factory=list)
    deferred: list[tuple[str, datetime]] = field(default_factory=list)
    after_each_send: Any = None  # called with the count of sends so far (a test pauses a campaign mid-run)

    def send(self, request: Any, now: datetime) -> Any:
        from cdp.messaging.requests import SendOutcome

        self.attempts.append(request.profile_id)
        if request.profile_id in self.failing:
            raise RuntimeError(f"provider down for {request.profile_id}")
        if request.profile_id in self.deferring:
            return SendOutcome(status="deferred", reason="quiet_hours", defer_until=now + timedelta(hours=8))
        key = (request.profile_id, request.key())
        if key in self.sent:
            return SendOutcome(status="skipped", reason="already_sent")
        self.sent[key] = request.variant
        if self.after_each_send:
            self.after_each_send(len(self.sent))
        return SendOutcome(status="sent", reason="sent", message_id=f"m-{len(self.sent)}")

    def defer(self, request: Any, until: datetime) -> None:
        self.deferred.append((request.profile_id, until))


@dataclass
class FakeMessageEvents:
    """The `messages` stream (cdp.campaigns.ports.MessageEvents): rows in a list."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)
