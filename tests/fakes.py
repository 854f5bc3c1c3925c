"""In-memory fakes of the domain's ports, for domain tests that read more clearly without moto.

Each keeps what it was given in plain attributes the test can assert on, and implements its port's Protocol
(named in its docstring) with the same semantics as the adapter (e.g. a claim is refused once a message was sent).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from cdp.events import DomainEvent
from cdp.messaging.ports import CapWindow, CapWindowChanged, RenderedMessage, SendRecords, record_status
from cdp.messaging.requests import MessageRequest, SendOutcome
from cdp.messaging.rules import FrequencyCap, QuietHours
from cdp.messaging.service import SendingParts
from cdp.messaging.templates import shipped_templates
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
class RecordingPublisher:
    """A publisher of domain events: the events, in order."""

    events: list[DomainEvent] = field(default_factory=list)

    def __call__(self, events: Iterable[DomainEvent]) -> int:
        published = list(events)
        self.events += published
        return len(published)


@dataclass
class FakeSendRecords:
    """Send records (cdp.messaging.ports.SendRecords and SendRecordFeedback) by (profile, request key), with the
    adapter's conditions: a record that is sent, claimed or unknown is never overwritten; an outcome needs its claim's
    token; feedback sets each `<event>_at` once, on an existing record."""

    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    windows: dict[tuple[str, str], CapWindow] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _open(self, key: tuple[str, str]) -> dict[str, Any] | None:
        record = self.records.get(key)
        return record if record is not None and record["status"] in ("sent", "claimed", "unknown") else None

    @staticmethod
    def _base(request: MessageRequest, now: datetime) -> dict[str, Any]:
        return {"channel": request.channel, "purpose": request.purpose, "decided_at": now}

    def claim(
        self, request: MessageRequest, token: str, now: datetime, window: CapWindow | None = None
    ) -> dict[str, Any] | None:
        with self.lock:
            key = (request.profile_id, request.key())
            if (blocking := self._open(key)) is not None:
                return dict(blocking)
            if window is not None:
                stored = self.windows.get((request.profile_id, request.channel), CapWindow())
                if stored.version != window.version:
                    raise CapWindowChanged(request.channel)
                self.windows[(request.profile_id, request.channel)] = CapWindow(dict(window.sends), window.version + 1)
            self.records[key] = {**self._base(request, now), "status": "claimed", "claim_token": token,
                                 "claimed_at": now.isoformat()}  # fmt: skip
            return None

    def cap_window(self, profile_id: str, channel: str) -> CapWindow:
        with self.lock:
            return self.windows.get((profile_id, channel), CapWindow())

    def release(self, profile_id: str, channel: str, token: str) -> None:
        with self.lock:
            if (stored := self.windows.get((profile_id, channel))) is not None:
                sends = {other: at for other, at in stored.sends.items() if other != token}
                self.windows[(profile_id, channel)] = CapWindow(sends, stored.version + 1)

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

    def get(self, profile_id: str, message_key: str) -> dict[str, Any] | None:
        return self.records.get((profile_id, message_key))

    def mark(self, profile_id: str, message_key: str, event: str, at: datetime, details: dict[str, str]) -> bool:
        with self.lock:
            record = self.records.get((profile_id, message_key))
            if record is None or f"{event}_at" in record:
                return False
            record.update({f"{event}_at": at.isoformat(), **details})
            return True

    def find(self, provider_message_id: str) -> tuple[str, str] | None:
        return next((key for key, record in self.records.items()
                     if record.get("provider_message_id") == provider_message_id), None)  # fmt: skip


class WindowsReadTogether:
    """Send records (cdp.messaging.ports.SendRecords) whose first frequency-cap window read in each of `senders`
    threads waits for the others' first reads: every sender decides from the same window, the race the cap must
    survive. Everything else goes to the wrapped records."""

    def __init__(self, records: SendRecords, senders: int) -> None:
        self.records = records
        self.together = threading.Barrier(senders)
        self.readers: set[int] = set()
        self.lock = threading.Lock()

    def cap_window(self, profile_id: str, channel: str) -> CapWindow:
        window = self.records.cap_window(profile_id, channel)
        with self.lock:
            first = threading.get_ident() not in self.readers
            self.readers.add(threading.get_ident())
        if first:
            self.together.wait(timeout=30)
        return window

    def claim(
        self, request: MessageRequest, token: str, now: datetime, window: CapWindow | None = None
    ) -> dict[str, Any] | None:
        return self.records.claim(request, token, now, window)

    def finish(self, request: MessageRequest, token: str, outcome: SendOutcome, now: datetime) -> None:
        self.records.finish(request, token, outcome, now)

    def settle(self, request: MessageRequest, outcome: SendOutcome, now: datetime) -> dict[str, Any] | None:
        return self.records.settle(request, outcome, now)

    def mark_unknown(self, request: MessageRequest, token: str, now: datetime) -> bool:
        return self.records.mark_unknown(request, token, now)

    def release(self, profile_id: str, channel: str, token: str) -> None:
        self.records.release(profile_id, channel, token)


def run_together(calls: Iterable[Callable[[], Any]]) -> list[Any]:
    """Run each call in a thread of its own, all started together; their results, in call order."""
    calls = list(calls)
    results: list[Any] = [None] * len(calls)

    def run(position: int) -> None:
        results[position] = calls[position]()

    threads = [threading.Thread(target=run, args=(position,)) for position in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


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

    def reason(self, profile_id: str, channel: str, address: str, purpose: str = "marketing") -> str | None:
        return self.reasons.get((channel, address))

    def add(self, profile_id: str, channel: str, address: str, reason: str, at: datetime) -> None:
        self.reasons[(channel, address)] = reason


@dataclass
class FakeJourneyRuns:
    """Journey executions (cdp.journeys.ports.JourneyRuns): started inputs by name, stopped names."""

    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)

    def start(self, journey: str, execution_name: str, run_input: dict[str, Any]) -> None:
        self.started.setdefault(execution_name, run_input)

    def stop(self, journey: str, execution_name: str, cause: str) -> None:
        self.stopped.append(execution_name)


@dataclass
class FakeMessageEvents:
    """The curated `messages` rows (cdp.messaging.ports.MessageEvents), in order."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, rows: list[dict[str, Any]]) -> None:
        self.rows += rows


class FakeUnsubscribeLinks:
    """Unsubscribe links (cdp.messaging.ports.UnsubscribeLinks) naming the profile and channel."""

    def link(self, profile_id: str, channel: str, purpose: str = "marketing") -> str:
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
class FakeLiveSegmentStore:
    """LiveSegmentStore in memory, with the DynamoDB store's conditional write (on the memberships version)."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    timers: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # minute -> {(segment, profile id)}
    members: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # segment -> profile id -> entry
    stored_cut_points: Any = None
    swept: str | None = None
    writes: int = 0
    cut_point_reads: int = 0

    def profile(self, profile_id: str) -> dict[str, Any] | None:
        return self.profiles.get(profile_id)

    def cut_points(self) -> Any:
        self.cut_point_reads += 1
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
    cut_points: Any = None

    def save_cut_points(self, cut_points: Any) -> None:
        self.cut_points = cut_points

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

    parts: dict[str, Any] = field(default_factory=dict)

    def write(self, run_id: str, computed_at: datetime, memberships: Any, report: dict[str, Any]) -> str:
        self.runs.append((run_id, computed_at, memberships, report))
        return f"segment_memberships/run={run_id}/part-0.parquet"

    def write_part(self, run_id: str, computed_at: datetime, shard: int, memberships: Any) -> str:
        key = f"segment_memberships/run={run_id}/part-{shard}.parquet"
        self.parts[key] = memberships
        return key

    def publish(self, run_id: str, computed_at: datetime, parts: list[str], report: dict[str, Any]) -> str:
        import pyarrow as pa

        self.runs.append((run_id, computed_at, pa.concat_tables([self.parts[key] for key in parts]), report))
        return parts[0]

    def size_history(self, limit: int) -> list[dict[str, Any]]:
        return [{"computed_at": at.isoformat(), "sizes": report["segments"]} for _, at, _, report in self.runs[-limit:]]


class InProcessPredictions:
    """The prediction service without the function hop: the same fit, in this process."""

    def predict(self, histories: Any) -> dict[str, Any]:
        from cdp.predict.contract import PredictionSettings
        from cdp.predict.fit import fit_and_predict

        columns, parameters = fit_and_predict(histories, PredictionSettings())
        return {**columns, "parameters": parameters}


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


def fake_sending_parts(profiles: dict[str, dict[str, Any]]) -> SendingParts:
    """The sending service on these fakes and the shipped templates, with the deployment's default rules (3 marketing
    emails a week, quiet hours 21:00-09:00, London): every rule runs, nothing leaves the process."""
    return SendingParts(
        profiles=profiles.get, records=FakeSendRecords(), suppressions=FakeSuppressionList(),
        channels={"email": FakeChannel()}, unsubscribe_links=FakeUnsubscribeLinks(), events=FakeMessageEvents(),
        templates=shipped_templates(), caps={"email": FrequencyCap(3, timedelta(days=7))},
        quiet_hours=QuietHours(time(21), time(9)), shop_timezone="Europe/London",
    )  # fmt: skip


@dataclass
class MemoryShardWork:
    """What a sharded segment run's steps hand each other, in memory (cdp.segments.ports.ShardWork); its fit is
    the prediction function's, in this process, over every shard's histories at once."""

    documents: dict[tuple[str, str], Any] = field(default_factory=dict)
    histories: dict[tuple[str, int], Any] = field(default_factory=dict)
    predictions: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def write_json(self, run_id: str, name: str, document: dict[str, Any]) -> None:
        self.documents[(run_id, name)] = json.loads(json.dumps(document, default=str))

    def read_json(self, run_id: str, name: str) -> dict[str, Any]:
        return dict(self.documents[(run_id, name)])

    def write_table(self, run_id: str, name: str, table: Any) -> None:
        self.documents[(run_id, name)] = table

    def read_table(self, run_id: str, name: str) -> Any:
        return self.documents[(run_id, name)]

    def write_histories(self, run_id: str, shard: int, histories: Any) -> None:
        self.histories[(run_id, shard)] = histories

    def fit_request(self, run_id: str, shards: int) -> dict[str, Any]:
        return {"run_id": run_id, "shards": shards}

    def fit(self, request: dict[str, Any]) -> dict[str, Any]:
        import numpy as np
        from cdp.predict.contract import FitFailed, PredictionSettings
        from cdp.predict.fit import fit_and_predict
        from cdp.predict.histories import concatenated

        parts = [self.histories[(request["run_id"], shard)] for shard in range(request["shards"])]
        try:
            columns, parameters = fit_and_predict(concatenated(parts), PredictionSettings())
        except FitFailed as error:
            return {"failed": str(error)}
        ends = np.cumsum([len(part) for part in parts])
        for shard, (start, end) in enumerate(zip([0, *ends[:-1]], ends)):
            self.predictions[(request["run_id"], shard)] = {name: values[start:end] for name, values in columns.items()}
        return {"parameters": parameters, "customers": int(ends[-1])}

    def predicted(self, run_id: str, shard: int) -> dict[str, Any]:
        return self.predictions[(run_id, shard)]

    def clear(self, run_id: str) -> int:
        mine = [key for key in self.documents if key[0] == run_id]
        for key in mine:
            del self.documents[key]
        return len(mine)

    def fitted(self, run_id: str, shard: int, fit: dict[str, Any]) -> Any:
        work = self

        class Fitted:
            def predict(self, histories: Any) -> dict[str, Any]:
                if "failed" in fit:
                    return {"failed": fit["failed"]}
                return {**work.predictions[(run_id, shard)], "parameters": fit["parameters"]}

        return Fitted()
