"""Erasure of a merged person (moto): redirects followed, merged-in profiles erased, others and their edges kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cdp.adapters.privacy_store import PrivacyStore
from cdp.identity.resolution import resolve_batch
from cdp.privacy.erasure import erase_profile, identifier_digest
from cdp.privacy.export import export_profile

from tests.unit.identity_tables import LEDGER, PROFILES, identity_tables

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def store():
    with identity_tables():
        yield PrivacyStore(PROFILES, LEDGER)


def test_erasing_through_a_merged_id_erases_both_profiles_and_nobody_else(store: PrivacyStore) -> None:
    # Given: an anonymous visitor merged into Ann's profile by a later identify, and Bob
    first = resolve_batch(store.identity, [[("anonymous_id", "anon-1")], [("email", "bob@example.com")]], "test", NOW)
    second = resolve_batch(store.identity, [[("email", "ann@example.com")]], "test", NOW)
    merged = resolve_batch(store.identity, [[("email", "ann@example.com"), ("anonymous_id", "anon-1")]], "test", NOW)
    anon_id, bob_id = first.profile_ids
    assert merged.merges, "the identify merged the two profiles"
    live = merged.profile_ids[0]
    loser = anon_id if live != anon_id else second.profile_ids[0]
    exported = export_profile(store, loser)
    assert exported is not None and {"anonymous_id#anon-1", "email#ann@example.com"} <= set(exported["identifiers"])
    # When: the erasure names the merged-away id
    erasure = erase_profile(store, loser, "salt", NOW)
    # Then: both profiles and all their identity items are gone, the identifiers are remembered hashed
    assert erasure is not None and erasure["profile_id"] == live
    remaining = store.profiles.scan()["Items"]
    assert not [i for i in remaining if live in str(i) or loser in str(i) if not i["pk"].startswith("ERASURE#")]
    assert {i["sk"] for i in remaining if i["pk"] == "ERASED"} == {
        identifier_digest("salt", identifier) for identifier in (("email", "ann@example.com"), ("anonymous_id", "anon-1"))}
    # Then: Bob is intact, and an unknown id is None
    assert store.profile_consistently(bob_id) is not None
    assert any(i["pk"] == "IDENTITY#email#bob@example.com" for i in remaining)
    assert erase_profile(store, "nobody", "salt", NOW) is None
    assert export_profile(store, "nobody") is None
