"""The erased register against moto: read whole when that is cheaper than point lookups, looked up by key when it
is not, strongly consistent either way; the ingest check digests nothing while the register is empty."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pyarrow as pa
import pytest
from cdp.adapters import privacy_store
from cdp.adapters.clients import client, dynamodb_table
from cdp.adapters.privacy_store import PrivacyStore
from cdp.privacy import erase_objects, erasure
from cdp.privacy.erase_objects import Matcher
from cdp.privacy.erasure import erase_identifiers, erased_flags, identifier_digest

from tests.unit.identity_tables import LEDGER, PROFILES, identity_tables

SALT = "s3cret"
NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[PrivacyStore]:
    with identity_tables():
        privacy_store._register_larger_than.clear()
        yield PrivacyStore(PROFILES, LEDGER)
        privacy_store._register_larger_than.clear()


@contextmanager
def requests_sent(bodies: list[dict[str, Any]] | None = None) -> Iterator[Counter[str]]:
    """The DynamoDB operations sent inside the block (shared client and the table resource's), by name; their
    request bodies appended to `bodies` when given."""
    sent: Counter[str] = Counter()

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        sent[model.name] += 1
        if bodies is not None:
            bodies.append(json.loads(params["body"]))

    clients = (client("dynamodb"), dynamodb_table(PROFILES).meta.client)
    for each in clients:
        each.meta.events.register("before-call.dynamodb", count)
    try:
        yield sent
    finally:
        for each in clients:
            each.meta.events.unregister("before-call.dynamodb", count)


def _digest(kind: str, value: str) -> str:
    return identifier_digest(SALT, (kind, value))


def _orders(*people: tuple[str, str]) -> pa.Table:
    return pa.table({"customer_id": [c for c, _ in people], "email": [e for _, e in people]})


def test_an_empty_register_answers_any_lookup_in_one_query(store: PrivacyStore) -> None:
    # Given: nobody erased; 500 digests to check
    digests = {_digest("email", f"p{n}@example.com") for n in range(500)}
    # When
    with requests_sent() as sent:
        erased = store.erased_among(digests)
    # Then: one Query of the register instead of five BatchGetItems
    assert erased == set()
    assert sent == Counter({"Query": 1})


def test_a_small_register_is_read_whole_and_matched_locally(store: PrivacyStore) -> None:
    # Given: three erased identifiers, two of them among the 300 digests checked
    gone = [_digest("email", "gone@example.com"), _digest("customer_id", "C9"), _digest("phone", "+447700900001")]
    store.mark_erased(gone, "e1", NOW.isoformat())
    digests = {_digest("email", f"p{n}@example.com") for n in range(298)} | set(gone[:2])
    # When
    with requests_sent() as sent:
        erased = store.erased_among(digests)
    # Then
    assert erased == set(gone[:2])
    assert sent == Counter({"Query": 1})


def test_a_register_bigger_than_the_lookups_is_looked_up_by_key_and_remembered(store: PrivacyStore) -> None:
    # Given: 60 erased identifiers, more than looking up one digest would read (27 items' worth of capacity)
    gone = [_digest("email", f"gone{n}@example.com") for n in range(60)]
    store.mark_erased(gone, "e1", NOW.isoformat())
    # When: one digest is checked, twice
    with requests_sent() as first:
        found = store.erased_among({gone[5]})
    with requests_sent() as second:
        missing = store.erased_among({_digest("email", "kept@example.com")})
    # Then: the first call stopped its Query at the limit and looked the digest up; the second went straight to it
    assert (found, missing) == ({gone[5]}, set())
    assert first == Counter({"Query": 1, "BatchGetItem": 1})
    assert second == Counter({"BatchGetItem": 1})
    # Then: a lookup of many digests still reads the register whole
    with requests_sent() as many:
        assert store.erased_among({_digest("email", f"p{n}@example.com") for n in range(10)} | {gone[0]}) == {gone[0]}
    assert many == Counter({"Query": 1})


def test_erased_flags_keeps_its_contract_over_the_register(store: PrivacyStore) -> None:
    # Given
    store.mark_erased([_digest("email", "gone@example.com")], "e1", NOW.isoformat())
    # When
    flags = erased_flags(store, [{_digest("email", "gone@example.com")}, {_digest("email", "kept@example.com")}, set()])
    # Then
    assert flags == [True, False, False]


def test_the_ingest_check_digests_nothing_while_the_register_is_empty(
    store: PrivacyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a batch and a quarantined record, nobody erased, and digesting made to fail
    def no_digest(*_: Any) -> str:
        raise AssertionError("a value was digested")

    monkeypatch.setattr(erase_objects, "identifier_digest", no_digest)
    monkeypatch.setattr(erasure, "identifier_digest", no_digest)
    # When
    with requests_sent() as sent:
        matcher = Matcher.of_erased_among(store, SALT, _orders(("C1", "a@example.com")), [{"mail": "b@example.com"}], "GB")
    # Then
    assert matcher is None
    assert sent == Counter({"Query": 1})


def test_a_person_erased_between_two_batches_is_caught_in_the_second(store: PrivacyStore) -> None:
    # Given: a first batch checked while Ann is not erased
    batch = _orders(("C1", "Ann@Example.com"), ("C2", "bob@example.com"))
    quarantined = [{"e-mail": "ann@example.com", "note": "bad date"}, {"e-mail": "bob@example.com"}]
    assert Matcher.of_erased_among(store, SALT, batch, quarantined, "GB") is None
    # When: her erasure finishes, then the next batch is checked
    erase_identifiers(store, [("email", "ann@example.com")], SALT, NOW)
    matcher = Matcher.of_erased_among(store, SALT, batch, quarantined, "GB")
    # Then: her row and her quarantined record match, Bob's do not
    assert matcher is not None
    assert matcher.table_mask(batch).to_pylist() == [True, False]
    assert [matcher.record_matches(record) for record in quarantined] == [True, False]
    # Then: the register holds her salted digest and nothing that names her
    register = [i for i in boto3.client("dynamodb").scan(TableName=PROFILES)["Items"] if i["pk"]["S"] == "ERASED"]
    assert [(set(i), i["sk"]["S"]) for i in register] == [
        ({"pk", "sk", "erasure_id", "erased_at"}, _digest("email", "ann@example.com"))
    ]


def test_the_ingest_check_looks_digests_up_when_the_register_is_bigger_than_the_batch(store: PrivacyStore) -> None:
    # Given: 100 erased identifiers, one of them in a one-row batch
    gone = [_digest("email", f"gone{n}@example.com") for n in range(99)] + [_digest("customer_id", "C7")]
    store.mark_erased(gone, "e1", NOW.isoformat())
    batch = _orders(("C7", "new@example.com"))
    # When
    with requests_sent() as sent:
        matcher = Matcher.of_erased_among(store, SALT, batch, [], "GB")
    # Then: the Query stopped at the batch's budget, the digests were looked up by key, and the row matches
    assert matcher is not None and matcher.table_mask(batch).to_pylist() == [True]
    assert sent == Counter({"Query": 1, "BatchGetItem": 1})


def test_a_batch_without_identifier_values_costs_no_request(store: PrivacyStore) -> None:
    # Given: a batch whose rows carry no identifier, and no quarantined record
    batch = pa.table({"customer_id": pa.array([None, None], pa.string()), "email": pa.array([None, None], pa.string())})
    # When
    with requests_sent() as sent:
        matcher = Matcher.of_erased_among(store, SALT, batch, [], "GB")
    # Then
    assert matcher is None
    assert sent == Counter()


def test_the_register_is_read_strongly_consistent_either_way(store: PrivacyStore) -> None:
    # Given: a register bigger than one digest's lookup
    store.mark_erased([_digest("email", f"gone{n}@example.com") for n in range(40)], "e1", NOW.isoformat())
    bodies: list[dict[str, Any]] = []
    # When: one digest is checked (a Query cut short, then a lookup by key)
    with requests_sent(bodies) as sent:
        store.erased_among({_digest("email", "kept@example.com")})
    # Then
    assert sent == Counter({"Query": 1, "BatchGetItem": 1})
    query, lookup = bodies
    assert query["ConsistentRead"] is True
    assert lookup["RequestItems"][PROFILES]["ConsistentRead"] is True
