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
from cdp.segments.live_ports import Timer


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
class FakeLiveSegmentStore:
    """LiveSegmentStore in memory, with the DynamoDB store's conditional write (on the memberships version)."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    timers: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # minute -> {(segment, profile id)}
    members: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # segment -> profile id -> entry
    stored_cut_points: Any = None
    swept: str | None = None
    writes: int = 0

    def profile(self, profile_id: str) -> dict[str, Any] | None:
        return self.profiles.get(profile_id)

    def cut_points(self) -> Any:
        return self.stored_cut_points

    def write(self, change: Any) -> bool:
        profile = self.profiles[change.profile_id]
        if profile.get("memberships_version") != change.version:
            return False
        self.writes += 1
        profile.update(memberships=dict(change.memberships), segment_timers=dict(change.timers),
                       memberships_version=(change.version or 0) + 1)  # fmt: skip
        for name in change.entered:
            self.members.setdefault(name, {})[change.profile_id] = change.memberships[name]
        for name in change.exited:
            self.members.get(name, {}).pop(change.profile_id, None)
        for minute, segment, profile_id in change.timers_cleared:
            self.timers.get(minute, set()).discard((segment, profile_id))
        for minute, segment, profile_id in change.timers_set:
            self.timers.setdefault(minute, set()).add((segment, profile_id))
        return True

    def due_timers(self, minute: str) -> list[Timer]:
        return [Timer(minute, segment, profile_id) for segment, profile_id in sorted(self.timers.get(minute, ()))]

    def drop_timer(self, timer: Any) -> None:
        self.timers.get(timer.minute, set()).discard((timer.segment, timer.profile_id))

    def swept_until(self) -> str | None:
        return self.swept

    def mark_swept(self, minute: str) -> None:
        self.swept = max(self.swept or minute, minute)

    def timers_of(self, profile_id: str) -> dict[str, str]:
        return {segment: minute for minute, entries in self.timers.items() for segment, owner in entries
                if owner == profile_id}  # fmt: skip
