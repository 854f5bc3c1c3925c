"""Merges: anonymous history attach, survivor and attribute rules, redirects, edges, guardrails, concurrency (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cdp.adapters.identity_store import IdentityStore
from cdp.identity.resolution import current_profile_id, resolve_batch
from cdp.identity.rules import IdentityRules

from tests.unit.identity_tables import apply_record, identity_tables, run_at_once, set_profile

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[IdentityStore]:
    with identity_tables() as identity_store:
        yield identity_store


def _profile(identifiers: list[tuple[str, str]], cause: str, at: datetime, store: IdentityStore) -> str:
    profile_id = resolve_batch(store, [identifiers], cause, at).profile_ids[0]
    assert profile_id is not None
    return profile_id


def test_anonymous_browsing_attaches_to_the_customer_who_logs_in(store: IdentityStore) -> None:
    # Given an anonymous visitor with two browse events, and a known customer with an order
    anonymous = _profile([("anonymous_id", "anon-1")], "e1", NOW - timedelta(days=2), store)
    apply_record("events", "e1", anonymous, ["anonymous_id#anon-1"], {"event": "Product Viewed"}, "2026-11-21T08:00:00")
    apply_record("events", "e2", anonymous, ["anonymous_id#anon-1"], {"event": "Product Added"}, "2026-11-21T08:01:00")
    customer = _profile([("customer_id", "C1"), ("email", "a@x.io")], "file", NOW - timedelta(days=1), store)
    order = {"order_id": "O1", "line_amount": Decimal("12.50")}
    apply_record("orders", "O1#1", customer, ["customer_id#C1"], order, "2026-11-22T08:00:00")
    # When the visitor logs in (a message carrying both the user id and the anonymous id)
    result = resolve_batch(store, [[("customer_id", "C1"), ("anonymous_id", "anon-1")]], "msg-login", NOW)
    # Then the anonymous profile merged into the customer's, which now holds its events and identifiers
    assert result.profile_ids == [customer]
    assert [(m.from_profile, m.to_profile, m.cause) for m in result.merges] == [(anonymous, customer, "msg-login")]
    assert sorted(r["pk"] for r in store.records_of(customer)) == [
        "RECORD#events#e1",
        "RECORD#events#e2",
        "RECORD#orders#O1#1",
    ]
    assert store.records_of(anonymous) == []
    assert store.find_bound([("anonymous_id", "anon-1")]) == {("anonymous_id", "anon-1"): customer}
    assert current_profile_id(store, anonymous) == customer
    loser = store.get_profile(anonymous)
    assert loser is not None and loser["redirect_to"] == customer and loser["merged_at"] == NOW.isoformat()
    survivor = store.get_profile(customer)
    assert survivor is not None and survivor["orders_count"] == 1 and survivor["identifier_count_anonymous_id"] == 1
    # And one append-only merge edge on the survivor says what moved and why
    [edge] = store.edges(customer)
    assert edge["kind"] == "merge" and edge["from_profile"] == anonymous and edge["cause"] == "msg-login"
    assert edge["identifiers"] == ["anonymous_id#anon-1"]
    # And each moved record names the merge that moved it; the customer's own record names none
    merged_by = {r["pk"]: r.get("merged_by", []) for r in store.records_of(customer)}
    assert merged_by == {
        "RECORD#events#e1": [edge["edge_id"]],
        "RECORD#events#e2": [edge["edge_id"]],
        "RECORD#orders#O1#1": [],
    }
    assert survivor["events_count"] == 2
    # And later browsing on that device resolves straight to the customer
    assert resolve_batch(store, [[("anonymous_id", "anon-1")]], "e3", NOW).profile_ids == [customer]


def test_without_customer_ids_the_older_profile_survives_and_newer_non_null_attributes_win(
    store: IdentityStore,
) -> None:
    # Given an older email profile and a newer phone profile with attributes of their own
    older = _profile([("email", "a@x.io")], "m1", NOW - timedelta(days=3), store)
    newer = _profile([("phone", "+4915111111111")], "m2", NOW - timedelta(days=1), store)
    set_profile(older, first_name="Ann", city="Berlin", updated_at="2026-11-20T00:00:00+00:00")
    set_profile(newer, first_name="Anna", last_name="Lee", city=None, updated_at="2026-11-22T00:00:00+00:00")
    # When one input links them
    result = resolve_batch(store, [[("phone", "+4915111111111"), ("email", "a@x.io")]], "m3", NOW)
    # Then the older survives, taking the newer's non-null values and keeping its own where the newer has none
    assert result.profile_ids == [older]
    survivor = store.get_profile(older)
    assert survivor is not None
    assert (survivor["first_name"], survivor["last_name"], survivor["city"]) == ("Anna", "Lee", "Berlin")
    assert current_profile_id(store, newer) == older


def test_two_customer_ids_are_never_merged_and_the_conflict_is_recorded(store: IdentityStore) -> None:
    # Given two customers, each with an email
    first = _profile([("customer_id", "C1"), ("email", "a@x.io")], "f", NOW, store)
    second = _profile([("customer_id", "C2"), ("email", "b@x.io")], "f", NOW, store)
    # When inputs link them: both emails together, and customer C2 with C1's email
    result = resolve_batch(
        store, [[("email", "a@x.io"), ("email", "b@x.io")], [("customer_id", "C2"), ("email", "a@x.io")]], "m", NOW
    )
    # Then nothing merges, each input resolves to its strongest identifier's profile, identifiers stay put
    assert result.merges == []
    assert result.profile_ids == [first, second]
    assert store.find_bound([("email", "a@x.io"), ("email", "b@x.io")]) == {
        ("email", "a@x.io"): first,
        ("email", "b@x.io"): second,
    }
    assert current_profile_id(store, first) == first and current_profile_id(store, second) == second
    # And each refusal is a conflict edge naming the linking identifiers
    conflicts = store.edges(first) + store.edges(second)
    assert sorted((e["kind"], e["reason"], tuple(e["identifiers"])) for e in conflicts) == [
        ("conflict", "both profiles hold a customer id", ("email#a@x.io",)),
        ("conflict", "both profiles hold a customer id", ("email#b@x.io",)),
    ]


def test_a_merge_over_a_limit_is_refused_not_overwritten(store: IdentityStore) -> None:
    # Given rules allowing two emails, and two profiles holding two and one
    rules = IdentityRules(limits={"customer_id": 1, "email": 2})
    first = resolve_batch(store, [[("email", "a@x.io"), ("email", "b@x.io")]], "m1", NOW, rules).profile_ids[0]
    second = resolve_batch(store, [[("email", "c@x.io"), ("phone", "+4915111111111")]], "m2", NOW, rules).profile_ids[0]
    # When an input links them
    result = resolve_batch(store, [[("email", "a@x.io"), ("phone", "+4915111111111")]], "m3", NOW, rules)
    # Then they stay apart and the refusal is recorded
    assert result.merges == [] and result.profile_ids == [first]
    assert second is not None and current_profile_id(store, second) == second
    [edge] = store.edges(first if first is not None else "")
    assert (edge["kind"], edge["reason"]) == ("conflict", "merged profile would exceed the limit of email")


def test_two_lambdas_merging_the_same_pair_at_once_merge_it_once(store: IdentityStore) -> None:
    # Given two profiles and records on each
    first = _profile([("email", "a@x.io")], "m1", NOW - timedelta(days=2), store)
    second = _profile([("anonymous_id", "anon-9")], "m2", NOW - timedelta(days=1), store)
    apply_record("events", "e1", second, ["anonymous_id#anon-9"], {"event": "Product Viewed"}, "2026-11-22T00:00:00")

    def link(cause: str) -> list[str | None]:
        return resolve_batch(store, [[("email", "a@x.io"), ("anonymous_id", "anon-9")]], cause, NOW).profile_ids

    # When two threads link them at the same moment
    results, errors = run_at_once(lambda: link("lambda-0"), lambda: link("lambda-1"))
    # Then both resolve to the survivor, exactly one merge edge exists, and the record moved once
    assert errors == []
    assert results == [[first], [first]]
    assert [e["kind"] for e in store.edges(first)] == ["merge"]
    assert [r["pk"] for r in store.records_of(first)] == ["RECORD#events#e1"]
    assert current_profile_id(store, second) == first
