"""Split: a merge undone from its edge after more activity on both sides, aggregates right on both (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cdp.adapters.identity_store import IdentityStore
from cdp.adapters.profile_store import ProfileStore
from cdp.identity.resolution import current_profile_id, resolve_batch
from cdp.identity.split import SplitRefused, split_profile
from cdp.records.apply import profile_changes
from cdp_local.moto_transactions import transactions_that_snapshot_only_touched_items

from tests.unit.identity_tables import LEDGER, PROFILES, apply_record, identity_tables, run_at_once, set_profile

MERGED_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SPLIT_AT = MERGED_AT + timedelta(hours=3)


@pytest.fixture
def store() -> Iterator[IdentityStore]:
    with identity_tables() as identity_store:
        yield identity_store


def _order(order_id: str, amount: str, at: datetime) -> dict[str, object]:
    return {
        "order_id": order_id,
        "line_id": "1",
        "ordered_at": at.isoformat(),
        "currency": "EUR",
        "quantity": 1,
        "unit_price": Decimal(amount),
        "line_amount": Decimal(amount),
        "status": "completed",
        "category": "shoes",
    }


def _put_order(order_id: str, amount: str, profile_id: str, identifiers: list[str], at: datetime) -> str:
    return apply_record("orders", f"{order_id}#1", profile_id, identifiers, _order(order_id, amount, at), at.isoformat())


def test_split_after_more_activity_gives_each_side_its_own_records_and_aggregates(store: IdentityStore) -> None:
    # Given a customer and an anonymous shopper, each with an order, merged by a login
    before = MERGED_AT - timedelta(days=1)
    customer = resolve_batch(store, [[("customer_id", "C1"), ("email", "a@x.io")]], "f", before).profile_ids[0]
    anonymous = resolve_batch(store, [[("anonymous_id", "anon-1")]], "e", before - timedelta(days=1)).profile_ids[0]
    assert customer is not None and anonymous is not None
    _put_order("O1", "10.00", customer, ["customer_id#C1"], before)
    _put_order("O2", "5.00", anonymous, ["anonymous_id#anon-1"], before)
    apply_record("events", "e1", anonymous, ["anonymous_id#anon-1"], {"event": "Product Viewed"}, before.isoformat())
    set_profile(anonymous, first_name="Anon", city="Paris")
    set_profile(customer, city="Berlin")
    [merge] = resolve_batch(store, [[("customer_id", "C1"), ("anonymous_id", "anon-1")]], "login", MERGED_AT).merges
    merged = store.get_profile(customer)
    assert merged is not None and (merged["first_name"], merged["city"]) == ("Anon", "Berlin")  # survivor newer
    # And more activity afterwards on each identifier set (both now applied to the survivor)
    after = MERGED_AT + timedelta(hours=1)
    _put_order("O3", "20.00", customer, ["customer_id#C1", "email#a@x.io"], after)
    _put_order("O4", "7.00", customer, ["anonymous_id#anon-1"], after)
    # When the merge is split (no edge named: the latest)
    outcome = split_profile(store, customer, None, "admin", after + timedelta(hours=1))
    # Then the anonymous profile is back under its own id with its identifier and records
    assert (outcome.undoes, outcome.restored, outcome.identifiers) == (
        merge.edge_id,
        anonymous,
        ("anonymous_id#anon-1",),
    )
    assert current_profile_id(store, anonymous) == anonymous
    assert store.find_bound([("anonymous_id", "anon-1")]) == {("anonymous_id", "anon-1"): anonymous}
    assert sorted(r["pk"] for r in store.records_of(anonymous)) == [
        "RECORD#events#e1",
        "RECORD#orders#O2#1",
        "RECORD#orders#O4#1",
    ]
    assert sorted(r["pk"] for r in store.records_of(customer)) == ["RECORD#orders#O1#1", "RECORD#orders#O3#1"]
    # And both sides' aggregates are recomputed from their own records
    restored, survivor = store.get_profile(anonymous), store.get_profile(customer)
    assert restored is not None and survivor is not None
    assert "redirect_to" not in restored
    assert (restored["first_name"], restored["city"]) == ("Anon", "Paris")
    assert ("first_name" in survivor, survivor["city"]) == (False, "Berlin")
    assert (restored["orders_count"], restored["revenue"]) == (2, Decimal("12.00"))
    assert (survivor["orders_count"], survivor["revenue"]) == (2, Decimal("30.00"))
    # And the edge log holds the merge and the unmerge, the merge untouched
    edges = store.edges(customer)
    assert [(e["kind"], e.get("undoes")) for e in edges] == [("unmerge", merge.edge_id), ("merge", None)]
    # And later anonymous browsing resolves to the restored profile
    assert resolve_batch(store, [[("anonymous_id", "anon-1")]], "e9", after).profile_ids == [anonymous]


def test_a_split_with_nothing_to_undo_is_refused(store: IdentityStore) -> None:
    # Given a profile that never merged, and a redirected one
    first = resolve_batch(store, [[("email", "a@x.io")]], "m1", MERGED_AT - timedelta(days=1)).profile_ids[0]
    second = resolve_batch(store, [[("phone", "+4915111111111")]], "m2", MERGED_AT).profile_ids[0]
    assert first is not None and second is not None
    [merge] = resolve_batch(store, [[("email", "a@x.io"), ("phone", "+4915111111111")]], "m3", MERGED_AT).merges
    # When splits are asked that cannot be made, Then each is refused with a status
    cases = [("unknown", None, 404), (second, None, 409), (first, "no-such-edge", 404)]
    for profile_id, edge_id, status in cases:
        with pytest.raises(SplitRefused) as refused:
            split_profile(store, profile_id, edge_id, "admin", MERGED_AT)
        assert refused.value.status == status
    split_profile(store, first, merge.edge_id, "admin", MERGED_AT)
    with pytest.raises(SplitRefused) as refused:
        split_profile(store, first, merge.edge_id, "admin", MERGED_AT)
    assert refused.value.status == 409


def test_two_concurrent_splits_of_one_merge_undo_it_once(store: IdentityStore) -> None:
    # Given one merge
    resolve_batch(store, [[("email", "a@x.io")]], "m1", MERGED_AT - timedelta(days=1))
    resolve_batch(store, [[("phone", "+4915111111111")]], "m2", MERGED_AT)
    [merge] = resolve_batch(store, [[("email", "a@x.io"), ("phone", "+4915111111111")]], "m3", MERGED_AT).merges

    def split() -> str:
        return split_profile(store, merge.to_profile, merge.edge_id, "admin", SPLIT_AT).edge_id

    # When two administrators split it at the same moment
    outcomes, errors = run_at_once(split, split)
    # Then one split is made and the other refused with 409, leaving exactly one unmerge edge
    assert len(outcomes) == 1
    assert [(type(error), getattr(error, "status", None)) for error in errors] == [(SplitRefused, 409)]
    assert [e["kind"] for e in store.edges(merge.to_profile)] == ["unmerge", "merge"]
    assert current_profile_id(store, merge.from_profile) == merge.from_profile


def test_the_same_evidence_after_a_split_records_a_conflict_instead_of_merging_again(store: IdentityStore) -> None:
    # Given a customer and an anonymous shopper merged by a login, then split apart by an administrator
    before = MERGED_AT - timedelta(days=1)
    customer = resolve_batch(store, [[("customer_id", "C1"), ("email", "a@x.io")]], "f", before).profile_ids[0]
    anonymous = resolve_batch(store, [[("anonymous_id", "anon-1")]], "e", before).profile_ids[0]
    assert customer is not None and anonymous is not None
    resolve_batch(store, [[("customer_id", "C1"), ("anonymous_id", "anon-1")]], "login", MERGED_AT)
    split = split_profile(store, customer, None, "admin", SPLIT_AT)
    # When a later order carries both identifiers again
    later = SPLIT_AT + timedelta(hours=1)
    result = resolve_batch(store, [[("customer_id", "C1"), ("anonymous_id", "anon-1")]], "order:O9", later)
    _put_order("O9", "9.00", result.profile_ids[0] or "", ["customer_id#C1", "anonymous_id#anon-1"], later)
    # Then there are still two profiles: the order resolves to the strongest (the customer's) and nothing merged
    assert result.merges == [] and result.profile_ids == [customer]
    assert store.find_bound([("anonymous_id", "anon-1")]) == {("anonymous_id", "anon-1"): anonymous}
    assert current_profile_id(store, anonymous) == anonymous
    # And the link is recorded as a conflict edge naming the split, after the merge and unmerge
    edges = store.edges(customer)
    assert [e["kind"] for e in edges] == ["conflict", "unmerge", "merge"]
    assert (edges[0]["reason"], edges[0]["cause"], edges[0]["from_profile"]) == (
        "a split separated these profiles",
        "order:O9",
        anonymous,
    )
    assert edges[1]["edge_id"] == split.edge_id
    # And a third profile merged into the anonymous one later still cannot bring the pair back together
    phone = resolve_batch(store, [[("phone", "+4915111111111")]], "p", later).profile_ids[0]
    [merge] = resolve_batch(store, [[("anonymous_id", "anon-1"), ("phone", "+4915111111111")]], "m", later).merges
    assert (merge.from_profile, merge.to_profile) == (phone, anonymous)
    again = resolve_batch(store, [[("email", "a@x.io"), ("phone", "+4915111111111")]], "m2", later)
    assert again.merges == [] and again.profile_ids == [customer]


@pytest.fixture
def fast_transactions() -> Iterator[None]:
    """moto copies whole tables in every transaction; the local stack's patch snapshots only the touched items."""
    with transactions_that_snapshot_only_touched_items():
        yield


def test_a_merge_of_a_profile_with_thousands_of_records_fits_dynamodb_limits_and_splits_back(
    store: IdentityStore, fast_transactions: None
) -> None:
    # Given an anonymous shopper with 100 device ids and 1,250 orders, and a customer with 30 orders
    before = MERGED_AT - timedelta(days=1)
    devices = [("anonymous_id", f"device-{n:03d}") for n in range(100)]
    anonymous = resolve_batch(store, [devices], "e", before - timedelta(days=1)).profile_ids[0]
    customer = resolve_batch(store, [[("customer_id", "C1")]], "f", before).profile_ids[0]
    assert anonymous is not None and customer is not None
    profiles = ProfileStore(PROFILES, LEDGER)
    for profile_id, prefix, count in ((anonymous, "A", 1250), (customer, "C", 30)):
        items = [
            {
                "pk": f"RECORD#orders#{prefix}{n}#1",
                "sk": "RECORD",
                "profile_id": profile_id,
                "entity": "orders",
                "source": "test",
                "applied_at": before.isoformat(),
                "identifiers": ["anonymous_id#device-000" if prefix == "A" else "customer_id#C1"],
                "record": _order(f"{prefix}{n}", "1.00", before),
            }
            for n in range(count)
        ]
        profiles.apply_ledger_items(profile_id, items, profile_changes, before)
    # When a login links them (beyond 100 items a transaction and with thousands of record keys)
    [merge] = resolve_batch(store, [[("customer_id", "C1"), ("anonymous_id", "device-000")]], "login", MERGED_AT).merges
    # Then the survivor holds and counts all 1,280 orders, and the merge edge stays far below 400 KB
    survivor = store.get_profile(customer)
    assert survivor is not None and (survivor["orders_count"], survivor["revenue"]) == (1280, Decimal("1280.00"))
    assert len(store.records_of(customer)) == 1280
    [edge] = store.edges(customer)
    assert len(edge["identifiers"]) == 100
    assert len(json.dumps(edge, default=str).encode()) < 40_000
    # When the merge is split
    outcome = split_profile(store, customer, merge.edge_id, "admin", SPLIT_AT)
    # Then each side has its own orders back, with exact aggregates
    restored, kept = store.get_profile(anonymous), store.get_profile(customer)
    assert restored is not None and kept is not None
    assert (len(outcome.records), len(outcome.identifiers)) == (1250, 100)
    assert (restored["orders_count"], restored["revenue"]) == (1250, Decimal("1250.00"))
    assert (kept["orders_count"], kept["revenue"]) == (30, Decimal("30.00"))
    assert {tuple(r.get("merged_by", [])) for r in store.records_of(anonymous)} == {()}
