"""DynamoDB requests per batch (moto, counted by operation): batched live-profile reads, redirect chains followed in
rounds, one profile read per 100 profiles, and exactly-once under concurrent per-profile application."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import boto3
import pytest
from cdp.adapters.clients import reset_clients
from cdp.adapters.identity_store import IdentityStore
from cdp.adapters.profile_store import ProfileStore
from cdp.identity.resolution import live_profile_ids, new_profile_item, resolve_batch
from cdp.records.appliers import apply_entity_records
from cdp.records.apply import apply_records

from tests.unit.identity_tables import LEDGER, PROFILES, atomic_transactions, identity_tables

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HORIZON = timedelta(days=30)
PEOPLE = 120


class Requests:
    """DynamoDB requests by operation, and the parameters of each, from a botocore event handler."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self.params: list[tuple[str, dict[str, Any]]] = []
        self.counting = False

    def __call__(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        if self.counting:
            operation = event_name.rsplit(".", 1)[-1]
            self.by_operation[operation] += 1
            self.params.append((operation, params))

    def start(self) -> Requests:
        self.by_operation.clear()
        self.params.clear()
        self.counting = True
        return self


@pytest.fixture
def requests() -> Iterator[tuple[ProfileStore, Requests]]:
    with identity_tables():
        boto3.client("ssm").put_parameter(Name="/cdp/erasure-salt", Value="salt", Type="SecureString")
        counter = Requests()
        session = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register("provide-client-params.dynamodb", counter)
        reset_clients()  # clients made from now on carry the handler
        try:
            yield ProfileStore(PROFILES, LEDGER), counter
        finally:
            session.events.unregister("provide-client-params.dynamodb", counter)


def customer(number: int) -> dict[str, Any]:
    return {
        "customer_id": f"C{number:05d}",
        "email": f"person{number}@example.com",
        "phone": f"+3361234{number:04d}",
        "first_name": "Ann",
        "signup_at": NOW - timedelta(days=number),
        "email_consent": True,
        "sms_consent": number % 2 == 0,
    }


def order_line(number: int, customer_number: int) -> dict[str, Any]:
    return {
        "order_id": f"O{number:06d}",
        "line_id": "1",
        "customer_id": f"C{customer_number:05d}",
        "ordered_at": NOW - timedelta(hours=number),
        "currency": "EUR",
        "quantity": 1,
        "line_amount": Decimal("9.50"),
        "status": "completed",
    }


def test_a_customers_batch_of_new_people_costs_about_two_requests_a_person_and_no_single_reads(requests) -> None:
    # Given a customers batch of new people, each with three identifiers and both consent columns
    store, counter = requests
    rows = [customer(number) for number in range(PEOPLE)]
    # When it is applied with its consent columns, as the ingest pipeline does
    counter.start()
    outcome, erased = apply_entity_records(store, "customers", rows, "s3://raw/customers.csv", NOW, HORIZON, "salt")
    # Then new profiles are created 14 to a transaction (7 items each), each person's record is applied in one
    # transaction and both consents in another; every read is batched, 100 keys a request (erased digests,
    # identities for profiles then consents, live profiles, the profiles applied to, then consented to)
    assert (outcome.created, outcome.records_applied, erased) == (PEOPLE, PEOPLE, 0)
    calls = counter.by_operation
    assert calls["GetItem"] == 0
    assert calls["TransactWriteItems"] == math.ceil(PEOPLE / 14) + 2 * PEOPLE
    assert calls["UpdateItem"] == 0
    assert calls["BatchGetItem"] <= 18
    assert sum(calls.values()) <= 2.1 * PEOPLE + 18


def test_new_profiles_created_together_survive_a_concurrent_writer_binding_one_identifier_first(requests) -> None:
    # Given four new people, one of whose emails another writer binds while the batch is being decided
    store, _ = requests
    identity = IdentityStore(PROFILES, LEDGER)
    people = [[("customer_id", f"C{number}"), ("email", f"p{number}@x.io")] for number in range(4)]
    original = IdentityStore.create_profiles

    def create_after_a_rival(self: IdentityStore, creations: list[Any]) -> None:
        if not identity.find_bound([("email", "p2@x.io")]):
            identity.create_profile(new_profile_item("rival", NOW), [("email", "p2@x.io")])
        original(self, creations)

    # When the batch is resolved
    with mock.patch.object(IdentityStore, "create_profiles", create_after_a_rival):
        resolved = resolve_batch(store.identity, people, "batch", NOW)
    # Then the other three are created, and the third resolves to the rival's profile with its customer id bound
    assert resolved.profile_ids[2] == "rival"
    assert resolved.created == {resolved.profile_ids[n] for n in (0, 1, 3)}
    assert identity.find_bound(i for identifiers in people for i in identifiers) == {
        identifier: profile_id for identifiers, profile_id in zip(people, resolved.profile_ids) for identifier in identifiers
    }


def test_an_orders_batch_reads_its_profiles_in_batches_and_writes_one_transaction_a_profile(requests) -> None:
    # Given known customers, and an orders batch of three lines each
    store, counter = requests
    apply_records(store, "customers", [customer(number) for number in range(PEOPLE)], "test", NOW, HORIZON)
    lines = [order_line(number, number % PEOPLE) for number in range(3 * PEOPLE)]
    # When the lines are applied
    counter.start()
    outcome = apply_records(store, "orders", lines, "test", NOW, HORIZON)
    # Then: identities, live profiles and profiles are read 100 to a request; one transaction per profile
    assert (outcome.records_applied, outcome.updated) == (3 * PEOPLE, PEOPLE)
    assert dict(counter.by_operation) == {"BatchGetItem": 2 + 2 + 2, "TransactWriteItems": PEOPLE}
    live_reads = [
        params["RequestItems"][PROFILES]
        for operation, params in counter.params
        if operation == "BatchGetItem" and "ProjectionExpression" in params["RequestItems"][PROFILES]
    ]
    assert [read["ConsistentRead"] for read in live_reads] == [True, True]
    assert sorted(live_reads[0]["ExpressionAttributeNames"].values()) == ["profile_id", "redirect_to"]


def test_redirect_chains_are_followed_in_rounds_of_batched_reads(requests) -> None:
    # Given profiles merged into chains: a1 -> a2 -> a3, b1 -> b2, c1 live, and an id that does not exist
    store, counter = requests
    profiles = boto3.resource("dynamodb").Table(PROFILES)
    redirects = {"a1": "a2", "a2": "a3", "a3": None, "b1": "b2", "b2": None, "c1": None}
    for profile_id, target in redirects.items():
        item = {"pk": f"PROFILE#{profile_id}", "sk": "PROFILE", "profile_id": profile_id}
        profiles.put_item(Item={**item, "redirect_to": target} if target else item)
    # When the live profile of each is asked for at once
    counter.start()
    live = live_profile_ids(store.identity, ["a1", "b1", "c1", "a2", "gone"])
    # Then each is followed to its end, one batched read per hop of the longest chain
    assert live == {"a1": "a3", "b1": "b2", "c1": "c1", "a2": "a3", "gone": None}
    assert dict(counter.by_operation) == {"BatchGetItem": 3}


def test_a_known_person_merged_elsewhere_resolves_to_the_live_profile_without_single_reads(requests) -> None:
    # Given an anonymous visitor merged into a customer at login
    store, counter = requests
    anonymous = resolve_batch(store.identity, [[("anonymous_id", "anon-1")]], "e1", NOW).profile_ids[0]
    customer_profile = resolve_batch(store.identity, [[("customer_id", "C1")]], "f1", NOW).profile_ids[0]
    resolve_batch(store.identity, [[("customer_id", "C1"), ("anonymous_id", "anon-1")]], "login", NOW)
    # When the anonymous id comes again
    counter.start()
    resolved = resolve_batch(store.identity, [[("anonymous_id", "anon-1")]], "e2", NOW)
    # Then it resolves through the redirect with batched reads only
    assert anonymous != customer_profile
    assert resolved.profile_ids == [customer_profile]
    assert set(counter.by_operation) == {"BatchGetItem"}


def test_concurrent_per_profile_application_counts_every_record_once(requests) -> None:
    # Given customers, half of whose order lines were already applied, and a batch holding all the lines
    store, _ = requests
    apply_records(store, "customers", [customer(number) for number in range(40)], "test", NOW, HORIZON)
    lines = [order_line(number, number % 40) for number in range(200)]
    apply_records(store, "orders", lines[::2], "first", NOW, HORIZON)
    outcomes: list[int] = []
    # When three deliveries of the whole batch run at once, each applying its profiles on several threads
    with atomic_transactions():
        threads = [
            threading.Thread(
                target=lambda: outcomes.append(
                    apply_records(store, "orders", lines, "again", NOW, HORIZON).records_applied
                )
            )
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # Then the other half is applied exactly once, and every profile counts each of its orders once
    assert sum(outcomes) == 100
    ledger = boto3.resource("dynamodb").Table(LEDGER).scan()["Items"]
    assert len([item for item in ledger if item["entity"] == "orders"]) == 200
    people = [[("customer_id", f"C{number:05d}")] for number in range(40)]
    profile_ids = resolve_batch(store.identity, people, "check", NOW).profile_ids
    assert [store.get_profile(str(profile_id))["orders_count"] for profile_id in profile_ids] == [5] * 40


def test_outcome_and_events_follow_the_batch_order_whatever_finishes_first(requests) -> None:
    # Given a customers batch of new people with signups
    store, _ = requests
    rows = [customer(number) for number in range(30)]
    # When it is applied (profiles on several threads)
    outcome = apply_records(store, "customers", rows, "test", NOW, HORIZON)
    # Then the signup events come in the batch's order of people
    signed_up = [event.detail["signed_up_at"] for event in outcome.events]
    assert signed_up == [row["signup_at"].isoformat() for row in rows]
