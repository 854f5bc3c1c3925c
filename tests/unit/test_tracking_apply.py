"""Applying calls: replays skipped, ids remembered only after the rows were applied, links resolved after rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from cdp.records.apply import ProfileOutcome
from cdp.tracking import apply
from cdp.tracking.apply import TrackingPorts, apply_calls
from cdp.tracking.messages import parse_call

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
WINDOW = timedelta(days=7)


class FakeRegister:
    def __init__(self, seen: set[str] | None = None) -> None:
        self.known = set(seen or ())
        self.remembered: list[tuple[str, list[str], datetime, timedelta]] = []

    def seen(self, source: str, message_ids: list[str], now: datetime) -> set[str]:
        return self.known & set(message_ids)

    def remember(self, source: str, message_ids: list[str], received_at: datetime, window: timedelta) -> None:
        self.remembered.append((source, message_ids, received_at, window))


@pytest.fixture
def calls_to_profiles(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Records what would reach identity resolution and apply_records, in order."""
    made: list[tuple[str, Any]] = []

    class Resolved:
        def __init__(self, sets: list[Any]) -> None:
            self.profile_ids = [f"p{i}" for i in range(len(sets))]

    def resolve_batch(store: Any, sets: list[Any], cause: str, now: datetime) -> Resolved:
        made.append(("links", sets))
        return Resolved(sets)

    def apply_checked_records(
        store: Any, entity: str, rows: list[dict], source: str, now: datetime, horizon: Any, live: Any = None
    ) -> ProfileOutcome:
        made.append((entity, [row["source_version"] for row in rows]))
        return ProfileOutcome(records_applied=len(rows))

    monkeypatch.setattr(apply, "resolve_batch", resolve_batch)
    monkeypatch.setattr(apply, "drop_erased", lambda store, rows, salt: (rows, 0))
    monkeypatch.setattr(apply, "apply_checked_records", apply_checked_records)
    monkeypatch.setattr(apply, "drop_erased_links", lambda store, links, salt: links)
    return made


class FakeCurated:
    """The curated zone: records what it received; fails the first `failing` rows it is given."""

    def __init__(self, failing: int = 0) -> None:
        self.failing = failing
        self.received: list[tuple[str, date, str]] = []

    def deliver(self, entity: str, rows: list[tuple[date, dict[str, Any]]]) -> int:
        self.received += [(entity, day, row["source_version"]) for day, row in rows]
        failed, self.failing = min(self.failing, len(rows)), max(0, self.failing - len(rows))
        return failed


def _ports(register: FakeRegister, curated: FakeCurated | None = None) -> TrackingPorts:
    stores = SimpleNamespace(identity=None, privacy=None)  # never reached: resolution and application are recorded
    return TrackingPorts(
        store=stores,
        register=register,
        curated=curated or FakeCurated(),
        dedupe_window=WINDOW,
        backfill_horizon=timedelta(days=30),
        phone_region="GB",
        salt="salt",
    )


def _track(message_id: str, **fields: Any):
    return parse_call({"type": "track", "messageId": message_id, "userId": "u1", "event": "E", **fields})


def test_seen_ids_and_repeats_inside_a_batch_are_duplicates(calls_to_profiles) -> None:
    # Given: m1 was seen before; m2 comes twice in the batch
    register = FakeRegister({"m1"})
    calls = [(0, _track("m1")), (1, _track("m2")), (2, _track("m2"))]
    # When
    result = apply_calls(_ports(register), "web", calls, NOW)
    # Then
    assert (result.accepted, result.duplicates) == ([1], [0, 2])
    assert calls_to_profiles == [("events", ["m2"])]
    assert register.remembered == [("http:web", ["m2"], NOW, WINDOW)]


def test_rows_are_applied_customers_first_then_links_are_resolved(calls_to_profiles) -> None:
    # Given
    calls = [
        (0, _track("m1", anonymousId="a1")),
        (1, parse_call({"type": "identify", "messageId": "m2", "userId": "u1", "traits": {"email": "a@b.co"}})),
    ]
    # When
    apply_calls(_ports(FakeRegister()), "web", calls, NOW)
    # Then
    assert calls_to_profiles == [
        ("customers", ["m2"]),
        ("events", ["m1", "m2"]),
        ("links", [[("customer_id", "u1"), ("anonymous_id", "a1")]]),
    ]


def test_a_failed_application_remembers_nothing_so_the_retry_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: the profile store fails
    def failing(*_: Any) -> None:
        raise ConnectionError("DynamoDB unavailable")

    monkeypatch.setattr(apply, "drop_erased", lambda store, rows, salt: (rows, 0))
    monkeypatch.setattr(apply, "apply_checked_records", failing)
    register = FakeRegister()
    # When
    with pytest.raises(ConnectionError):
        apply_calls(_ports(register), "web", [(0, _track("m1"))], NOW)
    # Then
    assert register.remembered == []


def test_a_call_with_unusable_order_properties_is_rejected_alone(calls_to_profiles) -> None:
    # Given
    calls = [
        (0, _track("m1", event="Order Completed", properties={"products": []})),
        (1, _track("m2")),
    ]
    # When
    result = apply_calls(_ports(FakeRegister()), "web", calls, NOW)
    # Then
    assert result.accepted == [1]
    assert result.rejected == [{"index": 0, "errors": [{"field": "properties.order_id", "message": "Field required"}]}]


def test_rows_go_to_the_curated_zone_in_their_date_partition(calls_to_profiles) -> None:
    # Given: a call that happened yesterday, and one without a timestamp (received now)
    curated = FakeCurated()
    calls = [(0, _track("m1", timestamp="2026-11-22T23:30:00-01:00")), (1, _track("m2"))]
    # When
    result = apply_calls(_ports(FakeRegister(), curated), "web", calls, NOW)
    # Then: each events row in the UTC day it happened
    assert not result.retry
    assert curated.received == [("events", date(2026, 11, 23), "m1"), ("events", date(2026, 11, 23), "m2")]


def test_rows_the_curated_zone_did_not_take_ask_for_a_retry_and_remember_nothing(calls_to_profiles) -> None:
    # Given: the curated zone fails one row of two
    register = FakeRegister()
    curated = FakeCurated(failing=1)
    # When
    first = apply_calls(_ports(register, curated), "web", [(0, _track("m1")), (1, _track("m2"))], NOW)
    # Then: both calls were applied, but none is remembered, so the client's retry reapplies and redelivers them
    assert (first.accepted, first.retry, register.remembered) == ([0, 1], True, [])
    second = apply_calls(_ports(register, curated), "web", [(0, _track("m1")), (1, _track("m2"))], NOW)
    assert (second.retry, register.remembered) == (False, [("http:web", ["m1", "m2"], NOW, WINDOW)])
