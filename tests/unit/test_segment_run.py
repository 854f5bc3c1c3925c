"""The scheduled segment run on in-memory ports: the library and stored definitions over curated rows mapped to
profiles, exactly-once announcements across interleaved and dead runs, an unchanged base, profiling consent,
predictions in rules, and personas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from cdp.events import DomainEvent
from cdp.segments.compute import SegmentRunParts, compute_segments
from cdp.segments.definitions import load_library
from cdp.segments.ports import SNAPSHOT_SCHEMA, Membership
from fakes import (
    InProcessPredictions,
    MemoryBehaviour,
    MemoryDefinitions,
    MemorySegmentStore,
    MemorySnapshots,
    RecordingPublisher,
)

AS_OF = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
TIMESTAMP = pa.timestamp("us", tz="UTC")
ORDER_SCHEMA = pa.schema([("customer_id", pa.string()), ("email", pa.string()), ("anonymous_id", pa.string()),
                          ("order_id", pa.string()), ("ordered_at", TIMESTAMP), ("status", pa.string()),
                          ("sku", pa.string()), ("category", pa.string()), ("line_amount", pa.float64()),
                          ("channel", pa.string())])  # fmt: skip
EVENT_SCHEMA = pa.schema([("customer_id", pa.string()), ("email", pa.string()), ("anonymous_id", pa.string()),
                          ("event", pa.string()), ("occurred_at", TIMESTAMP), ("properties", pa.string())])  # fmt: skip


def _profile(profile_id: str, orders: int = 0, revenue: float = 0.0, last_order: timedelta | None = None,
             **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"profile_id": profile_id, "first_seen_at": AS_OF - 400 * DAY, "orders_count": orders, "revenue": revenue,
            "last_order_at": AS_OF - last_order if last_order else None, **extra}  # fmt: skip


def _order(customer: str, order_id: str, ago: timedelta, amount: float, category: str = "shoes") -> dict[str, Any]:
    return {"customer_id": customer, "order_id": order_id, "ordered_at": AS_OF - ago, "status": "completed",
            "sku": f"sku-{category}", "category": category, "line_amount": amount, "channel": "web"}  # fmt: skip


def _event(anonymous_id: str, name: str, ago: timedelta, properties: Any) -> dict[str, Any]:
    text = properties if isinstance(properties, str) else json.dumps(properties)
    return {"anonymous_id": anonymous_id, "event": name, "occurred_at": AS_OF - ago, "properties": text}


PROFILES = [
    _profile("p1", 3, 300.0, 10 * DAY, country="GB", email_consent=True),
    _profile("p2", 1, 40.0, 200 * DAY, country="FR", email_consent=False),
    _profile("p3", country="GB"),  # browses, adds to cart, never orders
    _profile("p4", 2, 90.0, 30 * DAY, profiling_consent=False),  # refused profiling
]
IDENTITIES = {"customer_id#C1": "p1", "customer_id#C2": "p2", "anonymous_id#A3": "p3", "customer_id#C4": "p4"}
ORDERS = [_order("C1", "o1", 100 * DAY, 100.0), _order("C1", "o2", 50 * DAY, 100.0, "bags"),
          _order("C1", "o3", 10 * DAY, 100.0), _order("C2", "o4", 200 * DAY, 40.0), _order("C4", "o5", 30 * DAY, 45.0),
          _order("C9", "o6", 5 * DAY, 10.0)]  # fmt: skip  # C9: nobody known, dropped
EVENTS = [_event("A3", "Product Viewed", 3 * HOUR, {"product_id": "P1", "category": "shoes", "price": 50}),
          _event("A3", "Product Added", 2 * HOUR, {"product_id": "P1", "price": "fifty"}),  # a sloppy price
          _event("A3", "Product Viewed", HOUR, "not json")]  # fmt: skip


def _parts(store: MemorySegmentStore, publish: Any, documents: list[dict[str, Any]] | None = None,
           snapshots: MemorySnapshots | None = None, predictions: Any = None) -> SegmentRunParts:  # fmt: skip
    behaviour = MemoryBehaviour(pa.Table.from_pylist(ORDERS, ORDER_SCHEMA), pa.Table.from_pylist(EVENTS, EVENT_SCHEMA))
    return SegmentRunParts(store=store, behaviour=behaviour, definitions=MemoryDefinitions(documents or []),
                           snapshots=snapshots or MemorySnapshots(), publish=publish, library=load_library(),
                           announce_after=timedelta(minutes=15), predictions=predictions)  # fmt: skip


def _store(profiles: list[dict[str, Any]] = PROFILES, known: dict[str, str] = IDENTITIES) -> MemorySegmentStore:
    identities = pa.table({"identifier": list(known), "profile_id": list(known.values())})
    return MemorySegmentStore(pa.Table.from_pylist(profiles, SNAPSHOT_SCHEMA), identities)


def _transitions(events: list[DomainEvent]) -> list[tuple[str, str, str]]:
    return sorted((event.detail["profile_id"], event.detail_type, event.detail["segment"]) for event in events)


def test_the_library_segments_curated_behaviour_mapped_to_profiles_and_announces_each_entry_once() -> None:
    # Given
    store, publisher = _store(), RecordingPublisher()
    # When
    run = compute_segments(_parts(store, publisher), AS_OF, "run-1")
    # Then: p3's anonymous events make it a cart abandoner; p1 and p2 are RFM-scored from their profile aggregates
    # (of two buyers, p1 ranks second, R 3 F 3 M 3), p4 (no profiling) not at all
    assert ("p3", "Segment Entered", "cart_abandoners") in _transitions(publisher.events)
    assert {segment for segment, profile in store.members if profile == "p1"} >= {
        "rfm:Need Attention", "rfm_need_attention", "lifecycle:active"}
    assert not any(profile == "p4" for _, profile in store.members)
    assert all(event.detail["trigger"] == "scheduled" and event.detail["version"] == 1 for event in publisher.events)
    assert store.members == {Membership(segment, profile) for profile, _, segment in _transitions(publisher.events)}
    assert run.sizes["cart_abandoners"] == 1 and run.sizes["one_time_buyers"] == 1
    assert store.items["p1"]["values"]["tags"]["favourite_category"] == "shoes"
    assert store.items["p3"]["values"]["tags"]["last_product_viewed"] == "P1"
    assert all(not item["pending"] for item in store.items.values())


def test_a_run_on_an_unchanged_base_writes_and_announces_nothing() -> None:
    # Given a first run
    store, publisher = _store(), RecordingPublisher()
    compute_segments(_parts(store, publisher), AS_OF, "run-1")
    saves, publisher.events = store.saves, []
    # When the same base is run again
    again = compute_segments(_parts(store, publisher), AS_OF, "run-2")
    # Then
    assert (publisher.events, store.saves, again.profiles_saved, again.entered, again.exited) == ([], saves, 0, [], [])


def test_a_run_restores_memberships_the_live_segments_moved_though_its_values_are_unchanged() -> None:
    # Given a first run, then a live write that took p1 out of lifecycle_active (its values, and so its digest, stay)
    store, publisher = _store(), RecordingPublisher()
    compute_segments(_parts(store, publisher), AS_OF, "run-1")
    store.items["p1"]["memberships"] = [name for name in store.items["p1"]["memberships"] if name != "lifecycle_active"]
    publisher.events = []
    # When the same base is run again
    again = compute_segments(_parts(store, publisher), AS_OF, "run-2")
    # Then p1 is written back into the segment the run computes, and that entry announced
    assert again.profiles_saved == 1
    assert "lifecycle_active" in store.items["p1"]["memberships"]
    assert _transitions(publisher.events) == [("p1", "Segment Entered", "lifecycle_active")]


class _InterleavingStore(MemorySegmentStore):
    """Runs a whole other run right after this run has read its snapshot (the two overlap)."""

    other_run: Any = None

    def load_snapshot(self) -> Any:
        snapshot = super().load_snapshot()
        if self.other_run is not None:
            other, self.other_run = self.other_run, None
            other()
        return snapshot


def test_two_interleaved_runs_announce_every_entry_exactly_once_and_lose_none() -> None:
    # Given: run B starts and finishes while run A holds the snapshot it read before B wrote
    base = _store()
    store = _InterleavingStore(base.profiles, base.identities)
    publisher = RecordingPublisher()
    store.other_run = lambda: compute_segments(_parts(store, publisher), AS_OF, "run-B")
    # When
    run_a = compute_segments(_parts(store, publisher), AS_OF, "run-A")
    # Then: A lost every profile's write to B, announced nothing; every entry was announced once, by B
    transitions = _transitions(publisher.events)
    assert run_a.conflicts == len(PROFILES) and run_a.entered == [] and run_a.profiles_saved == 0
    assert len(transitions) == len(set(transitions)) == len(store.members)
    # And a third run on the same base finds nothing to do
    publisher.events = []
    assert compute_segments(_parts(store, publisher), AS_OF, "run-C").profiles_saved == 0
    assert publisher.events == []


def test_a_run_that_dies_before_announcing_is_announced_once_by_a_later_run() -> None:
    # Given a run whose bus fails after its writes
    store = _store()

    def failing(events: list[DomainEvent]) -> None:
        raise RuntimeError("bus unavailable")

    with pytest.raises(RuntimeError):
        compute_segments(_parts(store, failing), AS_OF, "run-1")
    written = {profile_id: list(item["pending"]) for profile_id, item in store.items.items()}
    # When a run comes while that run could still be alive, then one after it surely is not
    soon, later = RecordingPublisher(), RecordingPublisher()
    compute_segments(_parts(store, soon), AS_OF + timedelta(minutes=5), "run-2")
    compute_segments(_parts(store, later), AS_OF + timedelta(minutes=20), "run-3")
    # Then: the early run left the outboxes alone; the later one announced each transition once
    assert soon.events == []
    expected = sorted((pid, kind, segment) for pid, pending in written.items() for kind, segment in pending)
    assert _transitions(later.events) == expected
    assert all(not item["pending"] for item in store.items.values())


def test_a_person_who_refused_profiling_is_not_scored_and_loses_what_was_computed() -> None:
    # Given p4 segmented while profiling was allowed
    consenting = [dict(row, profiling_consent=None) if row["profile_id"] == "p4" else row for row in PROFILES]
    store, publisher = _store(consenting), RecordingPublisher()
    compute_segments(_parts(store, publisher), AS_OF, "run-1")
    held = set(store.items["p4"]["memberships"])
    assert held and store.items["p4"]["values"] is not None
    # When p4 refuses profiling and the next run comes
    store.profiles = pa.Table.from_pylist(PROFILES, SNAPSHOT_SCHEMA)
    publisher.events = []
    run = compute_segments(_parts(store, publisher), AS_OF, "run-2")
    # Then: values cleared, every membership exited, counted
    assert run.not_profiled == 1
    assert store.items["p4"]["values"] is None and store.items["p4"]["memberships"] == []
    exits = [transition for transition in _transitions(publisher.events) if transition[0] == "p4"]
    assert exits == sorted(("p4", "Segment Exited", segment) for segment in held)
    assert not any(profile == "p4" for _, profile in store.members)


def _buyers(count: int, rng: np.random.Generator) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """Profiles, order lines and identities of customers buying at their own rate over a year."""
    profiles, orders, known = [], [], {}
    for number in range(count):
        first = int(rng.integers(30, 365))  # days ago of the first order, then gaps of the customer's own mean
        ages = first - np.cumsum(np.r_[0.0, rng.exponential(rng.uniform(10, 90), 8)])
        days = sorted({int(age) for age in ages if age >= 1})
        ids = f"B{number}"
        for index, day in enumerate(days):
            orders.append(_order(ids, f"{ids}-{index}", day * DAY, float(rng.uniform(20, 80))))
        known[f"customer_id#{ids}"] = f"q{number}"
        revenue = sum(o["line_amount"] for o in orders if o["customer_id"] == ids)
        profiles.append(_profile(f"q{number}", len(days), revenue, min(days) * DAY))
    return profiles, orders, known


def test_predictions_land_on_profiles_and_rules_can_test_them() -> None:
    # Given a few hundred buyers and a stored segment on P(alive)
    profiles, orders, known = _buyers(300, np.random.default_rng(7))
    store, publisher = _store(profiles, known), RecordingPublisher()
    parts = _parts(store, publisher, predictions=InProcessPredictions(), documents=[{"segments": [
        {"name": "likely_gone", "version": 1, "where": {"field": "p_alive", "op": "<", "value": 0.5}}]}])
    behaviour = MemoryBehaviour(pa.Table.from_pylist(orders, ORDER_SCHEMA), pa.Table.from_pylist([], EVENT_SCHEMA))
    parts = SegmentRunParts(**{**parts.__dict__, "behaviour": behaviour})
    # When
    run = compute_segments(parts, AS_OF, "run-1")
    # Then
    predictions = [item["values"]["predictions"] for item in store.items.values()]
    assert all({"p_alive", "expected_orders_90d", "clv_12m", "next_order_at", "confidence"} <= set(p) for p in predictions)
    gone = {profile for segment, profile in store.members if segment == "likely_gone"}
    assert gone == {pid for pid, item in store.items.items() if item["values"]["predictions"]["p_alive"] < 0.5}
    assert set(run.predictions["bgnbd"]) == {"r", "alpha", "a", "b"} and run.predictions["customers"] == 300
    assert run.personas["lifecycle:active"]["mean_clv_12m"] > 0


def test_a_bad_stored_definition_is_reported_and_the_good_ones_are_computed() -> None:
    # Given one definition that clashes with the library, one with an unknown field, one good
    documents = [
        {"segments": [{"name": "high_value", "version": 1, "where": {"field": "revenue", "op": ">", "value": 1}}]},
        {"segments": [{"name": "odd", "version": 1, "where": {"field": "shoe_size", "op": ">", "value": 1}}]},
        {"segments": [{"name": "gb", "version": 1, "where": {"field": "country", "op": "=", "value": "GB"}}]},
    ]
    # When
    run = compute_segments(_parts(_store(), RecordingPublisher(), documents), AS_OF, "run-1")
    # Then
    assert run.sizes["gb"] == 2
    assert len(run.invalid_definitions) == 2 and "shoe_size" in run.invalid_definitions[1]


def test_personas_describe_each_segment_and_its_size_over_time() -> None:
    # Given two runs
    store, snapshots = _store(), MemorySnapshots()
    compute_segments(_parts(store, RecordingPublisher(), snapshots=snapshots), AS_OF - DAY, "run-1")
    # When
    run = compute_segments(_parts(store, RecordingPublisher(), snapshots=snapshots), AS_OF, "run-2")
    # Then: p1 and p2 are the buyers; p1 holds 300 of the 340 revenue of profiled customers
    persona = run.personas["rfm:Need Attention"]
    assert persona["size"] == 1 and [point["size"] for point in persona["size_history"]] == [1, 1]
    assert persona["revenue_share"] == pytest.approx(300 / 340, abs=1e-4)
    assert persona["average_order_value"] == 100.0
    assert persona["top_categories"] == ["shoes", "bags"] and persona["top_regions"] == ["GB"]
    assert persona["consent_rates"] == {"email": 1.0, "sms": 0.0, "push": 0.0}
    assert snapshots.runs[-1][3]["segments"] == run.sizes
