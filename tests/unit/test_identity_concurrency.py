"""Merges and splits interleaved with record application (another Lambda's apply_records) count every record once.

A hook runs a concurrent application just before a chosen step of the merge or split writes; threads run many at
once. Afterwards every profile's stored aggregates equal `aggregate_profile` over the records it holds, and every
record is held by exactly one live profile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdp.adapters.identity_store import IdentityStore
from cdp.identity.resolution import resolve_batch
from cdp.identity.split import split_profile
from cdp.profiles.aggregates import aggregate_profile, fold_records

from tests.unit.identity_tables import apply_record, identity_tables, run_at_once

MERGED_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CUSTOMER = [("customer_id", "C1"), ("email", "a@x.io")]
DEVICE = [("anonymous_id", "anon-1")]


@pytest.fixture
def store() -> Iterator[IdentityStore]:
    with identity_tables() as identity_store:
        yield identity_store


def _event(key: str, profile_id: str, identifiers: list[tuple[str, str]], at: datetime) -> str:
    record = {"event_id": key, "event": "Product Viewed", "occurred_at": at.isoformat()}
    return apply_record("events", key, profile_id, [f"{t}#{v}" for t, v in identifiers], record, at.isoformat())


def _two_profiles(store: IdentityStore) -> tuple[str, str]:
    """A customer with two events and an anonymous shopper with three, not yet linked."""
    before = MERGED_AT - timedelta(days=1)
    customer = resolve_batch(store, [CUSTOMER], "file", before).profile_ids[0]
    anonymous = resolve_batch(store, [DEVICE], "web", before - timedelta(days=1)).profile_ids[0]
    assert customer is not None and anonymous is not None
    for n in range(2):
        _event(f"c{n}", customer, CUSTOMER, before + timedelta(minutes=n))
    for n in range(3):
        _event(f"a{n}", anonymous, DEVICE, before + timedelta(minutes=n))
    return customer, anonymous


def _before_first_call(monkeypatch: pytest.MonkeyPatch, method: str, action: Callable[[], None]) -> None:
    """Run `action` (the other Lambda) once, just before the first call of an IdentityStore write method."""
    original = getattr(IdentityStore, method)
    done: list[bool] = []

    def hooked(self: IdentityStore, *args: Any, **kwargs: Any) -> Any:
        if not done:
            done.append(True)
            action()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(IdentityStore, method, hooked)


def _assert_exact(store: IdentityStore, profile_ids: list[str], record_keys: set[str]) -> dict[str, set[str]]:
    """Each live profile's aggregates equal those of its own records; each record held once. Returns the holdings."""
    held: dict[str, set[str]] = {}
    for profile_id in profile_ids:
        item = store.get_profile(profile_id)
        assert item is not None
        records = store.records_of(profile_id)
        if "redirect_to" in item:
            assert records == []
            continue
        assert fold_records(item, []) == aggregate_profile(records)
        held[profile_id] = {record["pk"] for record in records}
    assert sorted(pk for pks in held.values() for pk in pks) == sorted(record_keys)
    return held


@pytest.mark.parametrize("step", ["redirect", "move_identifier", "move_records"])
@pytest.mark.parametrize("side", ["loser", "survivor"])
def test_a_record_applied_during_a_merge_counts_once_on_the_survivor(
    store: IdentityStore, monkeypatch: pytest.MonkeyPatch, step: str, side: str
) -> None:
    # Given two profiles with records, and another Lambda about to apply an event to one of them (by the id it
    # resolved a moment ago) just before the merge's step writes
    customer, anonymous = _two_profiles(store)
    target = {"loser": anonymous, "survivor": customer}[side]
    keys = {f"RECORD#events#{key}" for key in ("c0", "c1", "a0", "a1", "a2", "late")}
    _before_first_call(monkeypatch, step, lambda: _event("late", target, DEVICE, MERGED_AT))
    # When a login links them
    result = resolve_batch(store, [[*CUSTOMER, *DEVICE]], "login", MERGED_AT)
    # Then the survivor holds all six records once, and its aggregates count each once
    assert result.profile_ids == [customer]
    held = _assert_exact(store, [customer, anonymous], keys)
    assert held == {customer: keys}
    survivor = store.get_profile(customer)
    assert survivor is not None and survivor["events_count"] == 6


@pytest.mark.parametrize("step", ["restore", "move_identifier", "move_records"])
@pytest.mark.parametrize("side", ["loser", "survivor"])
def test_a_record_applied_during_a_split_counts_once_on_one_side(
    store: IdentityStore, monkeypatch: pytest.MonkeyPatch, step: str, side: str
) -> None:
    # Given a merged pair, and another Lambda about to apply an event (anonymous identifiers only) to one of the ids
    later = MERGED_AT + timedelta(hours=1)
    customer, anonymous = _two_profiles(store)
    [merge] = resolve_batch(store, [[*CUSTOMER, *DEVICE]], "login", MERGED_AT).merges
    _before_first_call(monkeypatch, step, lambda: _event("late", {"loser": anonymous, "survivor": customer}[side], DEVICE, later))
    keys = {f"RECORD#events#{key}" for key in ("c0", "c1", "a0", "a1", "a2", "late")}
    # When the merge is split
    split_profile(store, customer, merge.edge_id, "admin", later + timedelta(minutes=1))
    # Then each record is held by exactly one side, each side's aggregates count exactly its own records
    held = _assert_exact(store, [customer, anonymous], keys)
    assert held[customer] == {"RECORD#events#c0", "RECORD#events#c1"}
    assert {"RECORD#events#a0", "RECORD#events#a1", "RECORD#events#a2"} <= held[anonymous]


def test_merges_and_splits_under_concurrent_applications_keep_aggregates_exact(store: IdentityStore) -> None:
    # Given two profiles with records
    customer, anonymous = _two_profiles(store)
    keys = {f"RECORD#events#{key}" for key in ("c0", "c1", "a0", "a1", "a2")}

    def apply_many(prefix: str, profile_id: str, identifiers: list[tuple[str, str]]) -> None:
        for n in range(12):
            _event(f"{prefix}{n}", profile_id, identifiers, MERGED_AT + timedelta(minutes=n))

    def merge_then_split() -> None:
        [merge] = resolve_batch(store, [[*CUSTOMER, *DEVICE]], "login", MERGED_AT).merges
        split_profile(store, customer, merge.edge_id, "admin", MERGED_AT + timedelta(hours=1))

    # When two Lambdas keep applying events to each profile id while another merges and splits them
    _, errors = run_at_once(
        lambda: apply_many("x", anonymous, DEVICE), lambda: apply_many("y", customer, CUSTOMER), merge_then_split
    )
    # Then nothing failed, every record is held once and every aggregate is exact on both sides
    assert errors == []
    keys |= {f"RECORD#events#{prefix}{n}" for prefix in "xy" for n in range(12)}
    held = _assert_exact(store, [customer, anonymous], keys)
    assert set(held) == {customer, anonymous}
    assert {f"RECORD#events#y{n}" for n in range(12)} <= held[customer]


def test_a_merge_waits_for_the_ledger_index_to_list_a_record_just_applied(
    store: IdentityStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two profiles, and a ByProfile index that has not yet caught up with the anonymous profile's last event
    customer, anonymous = _two_profiles(store)
    original = IdentityStore.records_of
    lagging: list[str] = []

    def records_of(self: IdentityStore, profile_id: str) -> list[dict[str, Any]]:
        records = original(self, profile_id)
        if profile_id == anonymous and not lagging:
            lagging.append(profile_id)
            return [record for record in records if record["pk"] != "RECORD#events#a2"]
        return records

    monkeypatch.setattr(IdentityStore, "records_of", records_of)
    # When a login links them
    resolve_batch(store, [[*CUSTOMER, *DEVICE]], "login", MERGED_AT)
    # Then the merge noticed the listing disagreed with the stored aggregates, listed again, and moved all five
    assert lagging == [anonymous]
    keys = {f"RECORD#events#{key}" for key in ("c0", "c1", "a0", "a1", "a2")}
    assert _assert_exact(store, [customer, anonymous], keys) == {customer: keys}
