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


# ---------------------------------------------------------------- segments


@dataclass
class MemorySegmentStore:
    """The segment store (cdp.segments.ports.SegmentStore) in memory, with the DynamoDB adapter's conditional
    semantics: a save wins only at the version it expects."""

    profiles: Any
    identities: Any
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: set[Any] = field(default_factory=set)
    saves: int = 0

    def load_snapshot(self) -> Any:
        from cdp.segments.ports import ProfileSnapshot, StoredSegments

        stored = {
            profile_id: StoredSegments(
                memberships=frozenset(item["memberships"]), version=item["version"], digest=item["digest"],
                pending=tuple(item.get("pending", ())), previous=tuple(item.get("previous", ())),
                pending_since=item.get("pending_since"),
            )
            for profile_id, item in self.items.items()
        }  # fmt: skip
        return ProfileSnapshot(profiles=self.profiles, stored=stored, identities=self.identities)

    def save(self, updates: list[Any], computed_at: datetime) -> list[Any]:
        return [update for update in updates if self._save(update, computed_at)]

    def _save(self, update: Any, computed_at: datetime) -> bool:
        item = self.items.get(update.profile_id, {"version": 0})
        if item["version"] != update.expected_version:
            return False
        self.saves += 1
        self.items[update.profile_id] = {
            "memberships": list(update.memberships), "version": update.version, "digest": update.digest,
            "values": update.values, "pending": list(update.transitions), "previous": list(update.previous),
            "pending_since": computed_at if update.transitions else None,
        }  # fmt: skip
        return True

    def move_memberships(self, entered: list[Any], exited: list[Any]) -> None:
        self.members = (self.members - set(exited)) | set(entered)

    def mark_announced(self, announced: list[tuple[str, int]]) -> None:
        for profile_id, version in announced:
            item = self.items[profile_id]
            if item["version"] == version:
                item.update(pending=[], previous=[], pending_since=None)


@dataclass
class MemoryBehaviour:
    """Curated order lines and events as given tables (cdp.segments.ports.BehaviourSource)."""

    orders: Any
    events_table: Any

    def order_lines(self, request: Any) -> Any:
        return self.orders.select([name for name in request.columns if name in self.orders.column_names])

    def events(self, request: Any) -> Any:
        return self.events_table.select([name for name in request.columns if name in self.events_table.column_names])


@dataclass
class MemoryDefinitions:
    documents: list[dict[str, Any]] = field(default_factory=list)

    def stored_documents(self) -> list[dict[str, Any]]:
        return list(self.documents)


@dataclass
class MemorySnapshots:
    """Membership snapshots kept in memory (cdp.segments.ports.SnapshotStore)."""

    runs: list[tuple[str, datetime, Any, dict[str, Any]]] = field(default_factory=list)

    def write(self, run_id: str, computed_at: datetime, memberships: Any, report: dict[str, Any]) -> str:
        self.runs.append((run_id, computed_at, memberships, report))
        return f"segment_memberships/run={run_id}/part-0.parquet"

    def size_history(self, limit: int) -> list[dict[str, Any]]:
        return [{"computed_at": at.isoformat(), "sizes": report["segments"]} for _, at, _, report in self.runs[-limit:]]


class InProcessPredictions:
    """The prediction service without the function hop: the same fit, in this process."""

    def predict(self, histories: Any) -> dict[str, Any]:
        from cdp.predict.customers import PredictionSettings
        from cdp.predict.fit import fit_and_predict

        columns, parameters = fit_and_predict(histories, PredictionSettings())
        return {**columns, "parameters": parameters}
