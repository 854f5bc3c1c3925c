"""resolve_batch: guests, new profiles, binding, limits, blocked values and determinism (moto)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cdp.adapters.identity_store import IdentityStore
from cdp.identity.resolution import resolve_batch
from cdp.identity.rules import IdentityRules

from tests.unit.identity_tables import identity_tables

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[IdentityStore]:
    with identity_tables() as identity_store:
        yield identity_store


def test_guests_get_no_profile_and_blocked_values_never_resolve(store: IdentityStore) -> None:
    # Given inputs whose identifiers are missing or placeholders
    sets = [[], [("email", "test@test.com"), ("customer_id", "-1")], [("phone", "+000000")], [("email", "NULL")]]
    # When they are resolved
    result = resolve_batch(store, sets, "test", NOW)
    # Then each is a guest and nothing was bound
    assert result.profile_ids == [None, None, None, None]
    assert result.created == set()
    assert store.find_bound([("email", "test@test.com"), ("phone", "+000000")]) == {}


def test_new_people_get_profiles_and_known_identifiers_resolve_to_them(store: IdentityStore) -> None:
    # Given a first batch creating one profile
    first = resolve_batch(store, [[("customer_id", "C1"), ("email", "A@Example.com")]], "file-1", NOW)
    # When a second batch carries the same email with a new phone, and another person
    second = resolve_batch(
        store, [[("email", "a@example.com"), ("phone", "+4915112345678")], [("email", "b@x.io")]], "file-2", NOW
    )
    # Then the email resolves to the first profile, which now also holds the phone
    profile_id = first.profile_ids[0]
    assert second.profile_ids[0] == profile_id
    assert second.profile_ids[1] not in (None, profile_id)
    assert store.find_bound([("phone", "+4915112345678")]) == {("phone", "+4915112345678"): profile_id}
    assert sorted(store.members(profile_id)) == [
        ("customer_id", "C1"),
        ("email", "a@example.com"),
        ("phone", "+4915112345678"),
    ]


def test_identifiers_over_the_limit_are_not_bound_and_are_recorded(store: IdentityStore) -> None:
    # Given rules allowing two emails per profile and a profile holding two
    rules = IdentityRules(limits={"customer_id": 1, "email": 2})
    first = resolve_batch(store, [[("customer_id", "C1"), ("email", "a@x.io"), ("email", "b@x.io")]], "m1", NOW, rules)
    profile_id = first.profile_ids[0]
    assert profile_id is not None
    # When a third email arrives with the customer id
    second = resolve_batch(store, [[("customer_id", "C1"), ("email", "c@x.io")]], "m2", NOW, rules)
    # Then it resolves to the profile, the third email stays unbound and a limit edge records why
    assert second.profile_ids == [profile_id]
    assert store.find_bound([("email", "c@x.io")]) == {}
    edges = store.edges(profile_id)
    assert [(edge["kind"], edge["identifiers"], edge["cause"]) for edge in edges] == [("limit", ["email#c@x.io"], "m2")]


def test_same_inputs_in_any_order_give_the_same_profiles() -> None:
    # Given a batch of overlapping identifier sets
    sets = [
        [("customer_id", "C1"), ("email", "a@x.io")],
        [("email", "a@x.io"), ("anonymous_id", "anon-1")],
        [("anonymous_id", "anon-1"), ("phone", "+4915111111111")],
        [("customer_id", "C2"), ("phone", "+4915122222222")],
        [("email", "z@x.io")],
    ]
    groupings = []
    for seed in range(4):
        shuffled = list(enumerate(sets))
        random.Random(seed).shuffle(shuffled)
        # When each order is resolved in a fresh store
        with identity_tables() as store:
            result = resolve_batch(store, [identifiers for _, identifiers in shuffled], "batch", NOW)
        by_input = {index: profile for (index, _), profile in zip(shuffled, result.profile_ids)}
        # Then the partition of inputs into profiles is the same
        groups: dict[str | None, set[int]] = {}
        for index, profile in by_input.items():
            groups.setdefault(profile, set()).add(index)
        groupings.append(sorted(sorted(group) for group in groups.values()))
    assert all(grouping == groupings[0] for grouping in groupings)
    assert groupings[0] == [[0, 1, 2], [3], [4]]


def test_oversized_and_duplicated_inputs_are_bounded_and_recorded_once(store: IdentityStore) -> None:
    # Given one input carrying 130 anonymous ids (over the limit of 100, and over one transaction), sent twice
    identifiers = [("anonymous_id", f"device-{n:03}") for n in range(130)]
    # When the batch is resolved
    result = resolve_batch(store, [identifiers, list(reversed(identifiers))], "hostile", NOW)
    # Then both inputs resolve to one new profile holding exactly 100 of them, and one limit edge names the rest
    [profile_id] = result.created
    assert result.profile_ids == [profile_id, profile_id]
    assert len(store.members(profile_id)) == 100
    [edge] = store.edges(profile_id)
    assert (edge["kind"], len(edge["identifiers"]), edge["limits"]) == ("limit", 30, {"anonymous_id": 100})


def test_an_identifier_left_on_a_merged_profile_still_resolves_to_the_survivor(store: IdentityStore) -> None:
    # Given a merge whose clean-up was interrupted: the loser redirects but still owns an identity item
    survivor = resolve_batch(store, [[("customer_id", "C1")]], "m1", NOW).profile_ids[0]
    loser = resolve_batch(store, [[("anonymous_id", "anon-1")]], "m2", NOW).profile_ids[0]
    assert survivor is not None and loser is not None
    store.profiles.update_item(
        Key={"pk": f"PROFILE#{loser}", "sk": "PROFILE"},
        UpdateExpression="SET redirect_to = :to",
        ExpressionAttributeValues={":to": survivor},
    )
    # When that identifier arrives with a new email
    result = resolve_batch(store, [[("anonymous_id", "anon-1"), ("email", "a@x.io")]], "m3", NOW)
    # Then it resolves to the survivor, which takes the email
    assert result.profile_ids == [survivor]
    assert store.find_bound([("email", "a@x.io")]) == {("email", "a@x.io"): survivor}
