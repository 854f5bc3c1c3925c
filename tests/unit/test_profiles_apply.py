"""apply_records on moto: each entity's aggregates, returns, replays, re-delivery, concurrency, write cost."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import boto3
import pytest
from cdp.adapters.clients import client
from cdp.adapters.profile_store import ProfileStore
from cdp.adapters.segment_store import SegmentStore
from cdp.identity.resolution import resolve_batch
from cdp.profiles.aggregates import aggregate_profile
from cdp.profiles.read import public_profile
from cdp.records.apply import MalformedRecord, UnknownEntity, apply_records
from cdp.segments.rfm import score_profiles
from moto.dynamodb.responses import DynamoHandler

from tests.unit.identity_tables import LEDGER, PROFILES, identity_tables

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HORIZON = timedelta(days=30)


def order_line(order: str, line: str, customer: str | None, amount: str, quantity: int = 1, **extra: Any) -> dict:
    return {
        "order_id": order,
        "line_id": line,
        "customer_id": customer,
        "email": None,
        "ordered_at": datetime(2026, 11, 1, 10, tzinfo=UTC) + timedelta(days=int(order[1:]) % 20),
        "currency": "EUR",
        "sku": f"S{line}",
        "category": "shoes",
        "brand": "acme",
        "quantity": quantity,
        "unit_price": Decimal(amount),
        "line_amount": Decimal(amount) * quantity,
        "status": "completed",
        **extra,
    }


def profile_of(store: ProfileStore, customer: str) -> dict[str, Any]:
    profile_id = resolve_batch(store.identity, [[("customer_id", customer)]], "test", NOW).profile_ids[0]
    assert profile_id is not None
    item = store.get_profile(profile_id)
    assert item is not None
    return item


def ledger_items() -> list[dict[str, Any]]:
    return boto3.resource("dynamodb").Table(LEDGER).scan()["Items"]


@pytest.fixture
def store():
    with identity_tables():
        yield ProfileStore(PROFILES, LEDGER)


def test_orders_aggregate_distinct_orders_units_revenue_and_favourites(store: ProfileStore) -> None:
    # Given two orders of three lines, one cancelled line and a guest line
    rows = [
        order_line("O1", "1", "C1", "10.00", 2, brand="zeta"),
        order_line("O1", "2", "C1", "5.50", category="bags"),
        order_line("O2", "1", "C1", "30.00"),
        order_line("O3", "1", "C1", "99.00", status="cancelled"),
        order_line("O4", "1", None, "7.00"),
    ]
    # When they are applied
    outcome = apply_records(store, "orders", rows, "test", NOW, HORIZON)
    # Then the guest is counted and skipped; the voided order (a positive cancelled line) never was a sale: it
    # reduces nothing and counts only as cancelled
    assert (outcome.created, outcome.records_applied, outcome.guest_records) == (1, 4, 1)
    profile = profile_of(store, "C1")
    assert (profile["orders_count"], profile["units"], profile["revenue"]) == (2, 4, Decimal("55.50"))
    assert (profile["cancelled_units"], profile["cancelled_amount"]) == (1, Decimal("99.00"))
    assert profile["average_order_value"] == Decimal("27.75")
    assert profile["revenue_by_currency"] == {"EUR": Decimal("55.50")}
    assert profile["favourite_categories"] == ["shoes", "bags"]
    assert profile["first_order_at"] < profile["last_order_at"]


def test_cancellation_notes_reduce_net_revenue_and_are_counted_apart(store: ProfileStore) -> None:
    # Given two sales, then a cancellation note (its own invoice, negative units) giving back 2 units of one
    sales = [order_line("O1", "1", "C1", "10.00", 3), order_line("O2", "1", "C1", "4.00", 1)]
    note = order_line("O9", "1", "C1", "10.00", -2, status="cancelled")
    # When they are applied, the note first
    apply_records(store, "orders", [note], "test", NOW, HORIZON)
    apply_records(store, "orders", sales, "test", NOW, HORIZON)
    # Then revenue and units are net of the note, the note is no order, and it is counted as cancelled
    profile = profile_of(store, "C1")
    assert (profile["revenue"], profile["units"], profile["orders_count"]) == (Decimal("14.00"), 2, 2)
    assert profile["revenue_by_currency"] == {"EUR": Decimal("14.00")}
    assert (profile["cancelled_units"], profile["cancelled_amount"]) == (2, Decimal("20.00"))
    assert profile["first_cancelled_at"] == profile["last_cancelled_at"] == note["ordered_at"].isoformat()
    assert profile["average_order_value"] == Decimal("7.00")


def test_a_customer_who_only_cancelled_is_dated_by_the_cancellation(store: ProfileStore) -> None:
    # Given a customer whose only line is a cancellation note, applied today
    note = order_line("O9", "1", "C1", "10.00", -1, status="cancelled", ordered_at=NOW - timedelta(days=400))
    apply_records(store, "orders", [note], "test", NOW, HORIZON)
    # When segments load profiles for scoring
    table = SegmentStore(PROFILES).load_snapshot().profiles
    # Then first seen is the cancellation's date, not the profile's creation, and the stage is churned, not new
    row = table.to_pylist()[0]
    assert row["first_seen_at"] == row["last_cancelled_at"] == NOW - timedelta(days=400)
    assert score_profiles(table, NOW).column("lifecycle_stage").to_pylist() == ["churned"]


def test_returns_reduce_revenue_and_count(store: ProfileStore) -> None:
    # Given an order of 40.00
    apply_records(store, "orders", [order_line("O1", "1", "C1", "40.00")], "test", NOW, HORIZON)
    # When one unit worth 15.00 is returned
    returned = {
        "return_id": "R1",
        "line_id": "1",
        "order_id": "O1",
        "customer_id": "C1",
        "returned_at": NOW,
        "currency": "EUR",
        "quantity": 1,
        "amount": Decimal("15.00"),
    }
    apply_records(store, "returns", [returned], "test", NOW, HORIZON)
    # Then revenue is net of the return
    profile = profile_of(store, "C1")
    assert (profile["revenue"], profile["returns_count"], profile["returned_units"]) == (Decimal("25.00"), 1, 1)


def test_events_tickets_feedback_loyalty(store: ProfileStore) -> None:
    # Given events, two snapshots of one ticket, feedback and loyalty entries
    at = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
    events = [
        {"event_id": "E1", "event": "Product Viewed", "occurred_at": at, "customer_id": "C1", "properties": "{}"},
        {
            "event_id": "E2",
            "event": "Product Added",
            "occurred_at": at + timedelta(minutes=1),
            "customer_id": "C1",
            "properties": '{"product_id": "P1", "quantity": 2}',
        },
        {
            "event_id": "E3",
            "event": "Checkout Started",
            "occurred_at": at + timedelta(minutes=2),
            "customer_id": "C1",
            "properties": "not json",
        },
    ]
    tickets = [
        {"ticket_id": "T1", "customer_id": "C1", "opened_at": at, "updated_at": at, "status": "open", "rating": None},
        {
            "ticket_id": "T1",
            "customer_id": "C1",
            "opened_at": at,
            "updated_at": at + timedelta(hours=1),
            "status": "solved",
            "rating": 4,
        },
        {"ticket_id": "T2", "customer_id": "C1", "opened_at": at, "updated_at": at, "status": "open", "rating": None},
    ]
    feedback = [{"response_id": "F1", "customer_id": "C1", "responded_at": at, "kind": "nps", "score": 9}]
    loyalty = [
        {
            "entry_id": "L1",
            "customer_id": "C1",
            "occurred_at": at,
            "points": 100,
            "tier": "gold",
            "expires_at": datetime(2027, 3, 1, tzinfo=UTC),
        },
        {"entry_id": "L2", "customer_id": "C1", "occurred_at": at, "points": -30, "tier": None, "expires_at": None},
    ]
    # When each entity is applied
    for entity, rows in (("events", events), ("tickets", tickets), ("feedback", feedback), ("loyalty", loyalty)):
        apply_records(store, entity, rows, "test", NOW, HORIZON)
    # Then every section reflects them
    profile = profile_of(store, "C1")
    assert profile["last_seen_at"] == (at + timedelta(minutes=2)).isoformat()
    assert profile["active_hours"] == {"14": 3}
    assert (profile["product_views_count"], profile["cart_status"], profile["cart_items_count"]) == (
        1,
        "checkout_started",
        2,
    )
    assert (profile["open_tickets_count"], profile["last_ticket_rating"]) == (1, 4)
    assert (profile["last_nps"], profile["last_nps_at"]) == (9, at.isoformat())
    assert (profile["points_expiries"], profile["points_spent"], profile["assigned_tier"]) == (
        {"2027-03-01": 100},
        {at.date().isoformat(): 30},
        "gold",
    )
    assert public_profile(profile, NOW)["loyalty"]["points"] == 70


def test_customers_newer_observation_wins_and_signup_event(store: ProfileStore) -> None:
    # Given a customer signed up long ago, then an update observed later
    old = {
        "customer_id": "C1",
        "first_name": "Ann",
        "city": "Lyon",
        "signup_at": datetime(2020, 1, 1, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    new = {"customer_id": "C1", "city": "Paris", "updated_at": datetime(2026, 6, 1, tzinfo=UTC)}
    created = apply_records(store, "customers", [old], "test", NOW, HORIZON)
    apply_records(store, "customers", [new], "test", NOW, HORIZON)
    # When an older observation arrives late
    late = {**old, "city": "Nice", "first_name": "Anna", "updated_at": datetime(2026, 3, 1, tzinfo=UTC)}
    apply_records(store, "customers", [late], "test", NOW, HORIZON)
    # Then only attributes newer than what is stored change; the backfill signup is flagged
    profile = profile_of(store, "C1")
    assert (profile["city"], profile["first_name"]) == ("Paris", "Anna")
    assert [event.detail["backfill"] for event in created.events] == [True]


def test_replay_and_redelivery_count_each_record_once(store: ProfileStore) -> None:
    # Given a file of lines applied once
    rows = [order_line(f"O{n}", "1", f"C{n % 3}", "10.00") for n in range(12)]
    apply_records(store, "orders", rows, "test", NOW, HORIZON)
    # When the same batch is replayed and the file re-delivered in other batches
    replay = apply_records(store, "orders", rows, "test", NOW, HORIZON)
    for start in range(0, len(rows), 5):
        apply_records(store, "orders", rows[start : start + 5], "again", NOW, HORIZON)
    # Then nothing is counted twice
    assert replay.records_applied == 0
    assert sum(profile_of(store, f"C{n}")["orders_count"] for n in range(3)) == 12
    assert len(ledger_items()) == 12


@pytest.fixture
def atomic_requests() -> Any:
    """moto deep-copies its tables inside TransactWriteItems without a lock; DynamoDB requests are atomic, so
    each moto request runs alone here, while the threads still interleave between requests."""
    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    with mock.patch.object(DynamoHandler, "call_action", call_action):
        yield


@pytest.mark.usefixtures("atomic_requests")
def test_concurrent_overlapping_batches_count_once(store: ProfileStore) -> None:
    # Given one customer's 40 lines, and three threads each delivering all of them in small batches, in its own order
    apply_records(store, "orders", [order_line("O0", "1", "C1", "1.00")], "test", NOW, HORIZON)
    rows = [order_line(f"O{n}", "1", "C1", "1.00") for n in range(1, 41)]
    errors: list[BaseException] = []

    def deliver(seed: int) -> None:
        batches = [rows[start : start + 4] for start in range(0, len(rows), 4)]
        random.Random(seed).shuffle(batches)
        try:
            for batch in batches:
                apply_records(store, "orders", batch, f"lambda-{seed}", NOW, HORIZON)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(seed,)) for seed in range(3)]
    # When they run at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every line counts once
    assert errors == []
    profile = profile_of(store, "C1")
    assert (profile["orders_count"], profile["revenue"]) == (41, Decimal("41.00"))
    assert len(ledger_items()) == 41


def test_chunks_beyond_the_transaction_limit(store: ProfileStore) -> None:
    # Given 250 lines of one customer
    rows = [order_line("O1", str(n), "C1", "1.00") for n in range(250)]
    # When applied
    outcome = apply_records(store, "orders", rows, "test", NOW, HORIZON)
    # Then all count, in three transactions
    assert outcome.records_applied == 250
    assert (profile_of(store, "C1")["units"], profile_of(store, "C1")["orders_count"]) == (250, 1)


def random_row(rng: random.Random, n: int, kind: str, customer: str, at: datetime) -> dict[str, Any]:
    """Record `n` of one entity for `customer`, with ids drawn so lines, returns and tickets collide."""
    if kind == "orders":
        return order_line(
            f"O{rng.randrange(30)}",
            str(n),
            customer,
            str(rng.randrange(1, 90)),
            rng.choice([1, 2, -1]),
            status=rng.choice(["completed", "cancelled"]),
            ordered_at=at,
            category=rng.choice(["a", "b", "c"]),
        )
    if kind == "returns":
        return {
            "return_id": f"R{rng.randrange(9)}",
            "line_id": str(n),
            "customer_id": customer,
            "returned_at": at,
            "currency": "EUR",
            "quantity": 1,
            "amount": Decimal(rng.randrange(1, 20)),
        }
    if kind == "events":
        event = rng.choice(
            ["Product Viewed", "Product Added", "Product Removed", "Checkout Started", "Order Completed"]
        )
        return {
            "event_id": f"E{n}",
            "customer_id": customer,
            "occurred_at": at,
            "event": event,
            "properties": f'{{"sku": "P{rng.randrange(4)}"}}',
        }
    if kind == "tickets":
        return {
            "ticket_id": f"T{rng.randrange(5)}",
            "customer_id": customer,
            "opened_at": at,
            "updated_at": at,
            "status": rng.choice(["open", "solved"]),
            "rating": rng.choice([None, 1, 5]),
        }
    if kind == "feedback":
        return {
            "response_id": f"F{n}",
            "customer_id": customer,
            "responded_at": at,
            "kind": rng.choice(["nps", "csat"]),
            "score": rng.randrange(1, 6),
        }
    return {
        "entry_id": f"L{n}",
        "customer_id": customer,
        "occurred_at": at,
        "points": rng.randrange(-50, 100),
        "tier": rng.choice([None, "silver", "gold"]),
        "expires_at": at + timedelta(days=365),
    }


def test_incremental_in_random_batches_equals_recompute(store: ProfileStore) -> None:
    # Given random records of every entity for a few customers
    rng = random.Random(7)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    kinds = ["orders", "returns", "events", "tickets", "feedback", "loyalty"]
    rows = []
    for n in range(160):
        kind = rng.choice(kinds)
        at = base + timedelta(hours=rng.randrange(2000))
        rows.append((kind, random_row(rng, n, kind, f"C{rng.randrange(3)}", at)))
    # When they are applied incrementally in random batches (with some replays)
    rng.shuffle(rows)
    position = 0
    while position < len(rows):
        size = rng.randrange(1, 25)
        batch = rows[position : position + size]
        for entity in {kind for kind, _ in batch}:
            entity_rows = [row for kind, row in batch if kind == entity]
            apply_records(store, entity, entity_rows, "test", NOW, HORIZON)
            if rng.random() < 0.2:
                apply_records(store, entity, entity_rows, "replay", NOW, HORIZON)
        position += size
    # Then each profile equals the aggregates recomputed from its ledger records
    records = ledger_items()
    for customer in ("C0", "C1", "C2"):
        profile = profile_of(store, customer)
        recomputed = aggregate_profile(r for r in records if r["profile_id"] == profile["profile_id"])
        assert {name: profile[name] for name in recomputed} == recomputed


def test_write_cost_per_order_line(store: ProfileStore) -> None:
    # Given a file batch of 300 lines over 40 known customers
    rows = [order_line(f"O{n // 3}", str(n % 3), f"C{n % 40}", "5.00") for n in range(300)]
    apply_records(store, "customers", [{"customer_id": f"C{n}"} for n in range(40)], "test", NOW, HORIZON)
    counted: list[int] = []
    # When it is applied
    client("dynamodb").meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: counted.append(len(params["TransactItems"])),
    )
    apply_records(store, "orders", rows, "test", NOW, HORIZON)
    # Then it costs one ledger put per line plus one profile write per customer
    assert (len(counted), sum(counted)) == (40, 340)


def test_unknown_entity_is_refused(store: ProfileStore) -> None:
    # Given / When / Then consents belong to cdp.privacy
    with pytest.raises(UnknownEntity):
        apply_records(store, "consents", [], "test", NOW, HORIZON)


def test_segments_score_the_new_aggregates(store: ProfileStore) -> None:
    # Given a buyer made by apply_records and a profile with no orders yet
    apply_records(store, "orders", [order_line("O1", "1", "C1", "12.50", 2)], "test", NOW, HORIZON)
    apply_records(store, "customers", [{"customer_id": "C2", "signup_at": NOW}], "test", NOW, HORIZON)
    # When segments load profiles for scoring
    table = SegmentStore(PROFILES).load_snapshot().profiles
    # Then the buyer's orders, revenue and last order are read, and the empty profile scores as a non-buyer
    rows = {row["orders_count"]: row for row in table.to_pylist()}
    assert (rows[1]["revenue"], rows[1]["last_order_at"] is not None) == (25.0, True)
    assert (rows[0]["revenue"], rows[0]["last_order_at"]) == (0.0, None)


def test_a_row_without_its_natural_key_refuses_the_batch_before_writing(store: ProfileStore) -> None:
    # Given a batch whose second line lost its line id
    rows = [order_line("O1", "1", "C1", "1.00"), order_line("O1", "", "C1", "1.00")]
    # When it is applied
    with pytest.raises(MalformedRecord, match="row 1 lacks its natural key line_id"):
        apply_records(store, "orders", rows, "test", NOW, HORIZON)
    # Then nothing was written
    assert ledger_items() == []
