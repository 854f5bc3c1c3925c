"""In-memory fakes of the domain's ports, for domain tests that read more clearly without moto.

Each keeps what it was given in plain attributes the test can assert on, and implements its port's Protocol
(named in its docstring) with the same semantics as the adapter (e.g. a claim is refused once a message was sent).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cdp.events import DomainEvent
from cdp.messaging.ports import RenderedMessage, record_status
from cdp.messaging.requests import MessageRequest, SendOutcome


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
class RecordingPublisher:
    """A publisher of domain events: the events, in order."""

    events: list[DomainEvent] = field(default_factory=list)

    def __call__(self, events: Iterable[DomainEvent]) -> int:
        published = list(events)
        self.events += published
        return len(published)


@dataclass
class FakeSendRecords:
    """Send records (cdp.messaging.ports.SendRecords) by (profile, request key), with the adapter's conditions: a
    record that is sent, claimed or unknown is never overwritten; an outcome needs its claim's token."""

    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _open(self, key: tuple[str, str]) -> dict[str, Any] | None:
        record = self.records.get(key)
        return record if record is not None and record["status"] in ("sent", "claimed", "unknown") else None

    def _base(self, request: MessageRequest, now: datetime) -> dict[str, Any]:
        return {"channel": request.channel, "purpose": request.purpose, "decided_at": now}

    def claim(self, request: MessageRequest, token: str, now: datetime) -> dict[str, Any] | None:
        with self.lock:
            key = (request.profile_id, request.key())
            if (blocking := self._open(key)) is not None:
                return dict(blocking)
            self.records[key] = {**self._base(request, now), "status": "claimed", "claim_token": token,
                                 "claimed_at": now.isoformat(), "attempted_at": now}  # fmt: skip
            return None

    def settle(self, request: MessageRequest, outcome: SendOutcome, now: datetime) -> dict[str, Any] | None:
        with self.lock:
            key = (request.profile_id, request.key())
            if (blocking := self._open(key)) is not None:
                return dict(blocking)
            self.records[key] = {**self._base(request, now), "status": record_status(outcome), "reason": outcome.reason}
            return None

    def finish(self, request: MessageRequest, token: str, outcome: SendOutcome, now: datetime) -> None:
        with self.lock:
            record = self.records[(request.profile_id, request.key())]
            assert record.get("claim_token") == token, "an outcome without its claim"
            record.update(status=record_status(outcome), reason=outcome.reason, provider_message_id=outcome.message_id)

    def mark_unknown(self, request: MessageRequest, token: str, now: datetime) -> bool:
        with self.lock:
            record = self.records[(request.profile_id, request.key())]
            if record["status"] != "claimed" or record.get("claim_token") != token:
                return False
            record.update(status="unknown", reason="unknown")
            return True

    def recent_marketing_sends(self, profile_id: str, channel: str, since: datetime) -> list[datetime]:
        return [
            record["attempted_at"] for (owner, _key), record in self.records.items()
            if owner == profile_id and record["channel"] == channel and record["purpose"] == "marketing"
            and record["status"] in ("sent", "claimed", "unknown") and record["attempted_at"] >= since
        ]  # fmt: skip


@dataclass
class FakeChannel:
    """A channel (cdp.messaging.ports.Channel): what it delivered, in order; `refuse` makes it raise that error."""

    sent: list[tuple[str, RenderedMessage]] = field(default_factory=list)
    refuse: Exception | None = None

    def send(self, address: str, rendered: RenderedMessage) -> str:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append((address, rendered))
        return f"provider-{len(self.sent)}"


@dataclass
class FakeSuppressionList:
    """The suppression list (cdp.messaging.ports.SuppressionList): reasons by (channel, address)."""

    reasons: dict[tuple[str, str], str] = field(default_factory=dict)

    def reason(self, profile_id: str, channel: str, address: str) -> str | None:
        return self.reasons.get((channel, address))

    def add(self, profile_id: str, channel: str, address: str, reason: str, at: datetime) -> None:
        self.reasons[(channel, address)] = reason


@dataclass
class FakeMessageEvents:
    """The curated `messages` rows (cdp.messaging.ports.MessageEvents), in order."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, rows: list[dict[str, Any]]) -> None:
        self.rows += rows


class FakeUnsubscribeLinks:
    """Unsubscribe links (cdp.messaging.ports.UnsubscribeLinks) naming the profile and channel."""

    def link(self, profile_id: str, channel: str) -> str:
        return f"https://shop.example/unsubscribe/{profile_id}/{channel}"


@dataclass
class FakeDeferredMessages:
    """Deferred messages (cdp.messaging.ports.DeferredMessages) by (until, request key)."""

    waiting: dict[tuple[datetime, str], MessageRequest] = field(default_factory=dict)

    def defer(self, request: MessageRequest, until: datetime) -> None:
        self.waiting[(until, request.key())] = request

    def due(self, now: datetime, limit: int) -> list[tuple[MessageRequest, datetime]]:
        return [(self.waiting[key], key[0]) for key in sorted(self.waiting) if key[0] <= now][:limit]

    def done(self, request: MessageRequest, until: datetime) -> None:
        self.waiting.pop((until, request.key()), None)


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

    def send(self, request: MessageRequest, now: datetime) -> SendOutcome:
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

    def defer(self, request: MessageRequest, until: datetime) -> None:
        self.deferred.append((request.profile_id, until))
