"""The sharded segment run on in-memory ports, its steps called as the state machine calls them: the same
memberships, announcements, stored values, cut points, sizes, personas and predictions as the single run on the
same base; RFM scores against cut points equal to ranked scores; shards stable and disjoint; retried steps and a
second run announce nothing twice."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from cdp.segments import rfm
from cdp.segments.compute import SegmentRunParts, compute_segments
from cdp.segments.definitions import load_library
from cdp.segments.ports import SNAPSHOT_SCHEMA
from cdp.segments.rfm_cut_points import rfm_cut_points
from cdp.segments.sharded import (
    Sharding,
    compute_shard,
    finish_sharded_run,
    run_segments,
    shard_histories,
    shard_of,
)
from fakes import (
    InProcessPredictions,
    MemoryBehaviour,
    MemoryDefinitions,
    MemorySegmentStore,
    MemoryShardWork,
    MemorySnapshots,
    RecordingPublisher,
)
from test_segment_run import AS_OF, DAY, EVENT_SCHEMA, HOUR, ORDER_SCHEMA

CATEGORIES = ("shoes", "bags", "hats", "shampoo")
TOP_SPENDERS = {"segments": [{"name": "top_spenders", "version": 1,
                              "where": {"field": "revenue", "op": "top_percent", "value": 20}}]}


def _base(customers: int, seed: int = 15) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """(profiles, identities, order lines, events): buyers, browsers, a few refusing profiling, ties in F and M."""
    rng = random.Random(seed)
    profiles, identities, lines, events = [], [], [], []
    for number in range(customers):
        profile_id, customer = f"p{number:03d}", f"C{number:03d}"
        orders = rng.choice((0, 0, 1, 1, 2, 3, 5, 8))
        first_seen = rng.randint(1, 900)
        day, revenue, last, spend = first_seen, 0, None, rng.choice((2, 4, 8, 16, 30))
        for order in range(orders):
            day = rng.randint(0, day)
            category, amount = rng.choice(CATEGORIES), spend * rng.randint(4, 6)
            revenue += amount
            last = AS_OF - day * DAY - HOUR
            lines.append({"customer_id": customer, "order_id": f"{customer}-{order}", "status": "completed",
                          "ordered_at": last, "sku": f"sku-{category}", "category": category,
                          "line_amount": float(amount), "channel": rng.choice(("web", "app"))})  # fmt: skip
        if rng.random() < 0.35:
            for view in range(rng.randint(1, 4)):
                events.append({"customer_id": customer, "event": "Product Viewed", "occurred_at": AS_OF - (view + 1) * HOUR,
                               "properties": json.dumps({"product_id": f"P{view}", "category": rng.choice(CATEGORIES)})})
        profiles.append({"profile_id": profile_id, "first_seen_at": AS_OF - first_seen * DAY, "orders_count": orders,
                         "revenue": float(revenue), "last_order_at": last, "country": rng.choice(("GB", "FR", None)),
                         "email_consent": rng.random() < 0.6,
                         "profiling_consent": False if rng.random() < 0.05 else None})  # fmt: skip
        identities.append({"identifier": f"customer_id#{customer}", "profile_id": profile_id})
    return (pa.Table.from_pylist(profiles, SNAPSHOT_SCHEMA), pa.Table.from_pylist(identities),
            pa.Table.from_pylist(lines, ORDER_SCHEMA), pa.Table.from_pylist(events, EVENT_SCHEMA))  # fmt: skip


class _Setup:
    """One base, its store, publisher, snapshots and run parts."""

    def __init__(self, customers: int, documents: list[dict[str, Any]] | None = None) -> None:
        profiles, identities, orders, events = _base(customers)
        self.store = MemorySegmentStore(profiles, identities)
        self.publisher, self.snapshots = RecordingPublisher(), MemorySnapshots()
        self.parts = SegmentRunParts(
            store=self.store, behaviour=MemoryBehaviour(orders, events), definitions=MemoryDefinitions(documents or []),
            snapshots=self.snapshots, publish=self.publisher, library=load_library(),
            announce_after=timedelta(minutes=15), predictions=InProcessPredictions(),
        )  # fmt: skip

    def transitions(self) -> list[tuple[str, str, str, int]]:
        return sorted((event.detail["profile_id"], event.detail_type, event.detail["segment"], event.detail["version"])
                      for event in self.publisher.events)  # fmt: skip


def _state_machine(setup: _Setup, work: MemoryShardWork, repeat_compute: bool = False) -> Any:
    """Run a plan's steps in the state machine's order: histories per shard, one fit, compute per shard, finish."""
    finished: list[dict[str, Any]] = []

    def start(plan: dict[str, Any]) -> None:
        for shard in plan["shards"]:
            shard_histories(setup.parts, work, shard["run_id"], shard["shard"])
        fit = work.fit(plan["fit"])
        for shard in plan["shards"]:
            compute_shard(setup.parts, work, shard["run_id"], shard["shard"], fit)
            if repeat_compute:  # a retried step (its first attempt's answer lost)
                compute_shard(setup.parts, work, shard["run_id"], shard["shard"], fit)
        finished.append(finish_sharded_run(setup.parts, work, plan["run_id"]))

    start.finished = finished  # type: ignore[attr-defined]
    return start


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in report.items()
            if name not in ("run_id", "snapshot", "shards", "recovered_announcements")}  # fmt: skip


@pytest.mark.parametrize("shards", [1, 3, 7])
def test_a_sharded_run_leaves_exactly_what_the_single_run_leaves(shards: int) -> None:
    # Given the same base twice, with a stored segment that ranks the whole population (top 20% by revenue)
    single, sharded = _Setup(300, [TOP_SPENDERS]), _Setup(300, [TOP_SPENDERS])
    work = MemoryShardWork()
    start = _state_machine(sharded, work)
    # When one runs in one function and the other is forced down the sharded path
    single_report = compute_segments(single.parts, AS_OF, "run-1").report()
    answer = run_segments(sharded.parts, Sharding(threshold=0, shards=shards, work=work, start=start), AS_OF, "run-1")
    # Then: the same announcements, stored values, memberships, cut points, snapshot, sizes, personas, predictions
    assert answer["sharded"] == shards
    [report] = start.finished
    assert report["shards"] == shards and report["entered"] > 300
    assert sharded.transitions() == single.transitions()
    assert sharded.store.items == single.store.items and sharded.store.members == single.store.members
    assert sharded.store.cut_points == single.store.cut_points
    assert _comparable(report) == _comparable(single_report)
    [(_, _, single_rows, _)], [(_, _, sharded_rows, _)] = single.snapshots.runs, sharded.snapshots.runs
    assert sorted(sharded_rows.to_pylist(), key=str) == sorted(single_rows.to_pylist(), key=str)
    assert work.documents == {}  # the run's work cleared
    assert report["segments"]["top_spenders"] > 0


def test_retried_shard_steps_and_a_second_run_announce_nothing_twice() -> None:
    # Given a base run sharded, each compute step run twice (a retry after a lost answer)
    setup, work = _Setup(120), MemoryShardWork()
    start = _state_machine(setup, work, repeat_compute=True)
    # When
    run_segments(setup.parts, Sharding(threshold=0, shards=3, work=work, start=start), AS_OF, "run-1")
    # Then: every entry is announced once; the retries lost every conditional write (conflicts)
    transitions = setup.transitions()
    assert len(transitions) == len(set(transitions)) > 120
    assert setup.store.members == {(segment, profile_id) for profile_id, _, segment, _ in transitions}
    assert all(not item["pending"] for item in setup.store.items.values())
    # When a second sharded run finds the same base
    setup.publisher.events = []
    run_segments(setup.parts, Sharding(threshold=0, shards=3, work=work, start=start), AS_OF, "run-2")
    # Then it announces and writes nothing
    assert setup.publisher.events == [] and start.finished[-1]["profiles_saved"] == 0


def test_below_the_threshold_the_run_is_computed_in_one_function() -> None:
    setup, work = _Setup(50), MemoryShardWork()
    start = _state_machine(setup, work)
    report = run_segments(setup.parts, Sharding(threshold=51, shards=3, work=work, start=start), AS_OF, "run-1")
    assert "sharded" not in report and report["profiles"] == 50 and start.finished == [] and work.documents == {}


def test_scores_against_the_population_cut_points_are_the_ranked_scores() -> None:
    # Given populations with many ties, tiny ones, and one buyer
    rng = random.Random(3)
    for buyers in (1, 2, 3, 4, 5, 6, 7, 11, 50, 333):
        rows = [{"profile_id": f"p{n}", "first_seen_at": AS_OF - 400 * DAY, "orders_count": rng.choice((1, 1, 2, 3, 9)),
                 "revenue": float(rng.choice((10, 10, 25, 40, 300))), "last_order_at": AS_OF - rng.randint(0, 40) * DAY,
                 "last_cancelled_at": None} for n in range(buyers)] + [
                {"profile_id": "never", "first_seen_at": AS_OF - DAY, "orders_count": 0, "revenue": 0.0,
                 "last_order_at": None, "last_cancelled_at": None}]  # fmt: skip
        profiles = pa.Table.from_pylist(rows, pa.schema([SNAPSHOT_SCHEMA.field(name) for name in rows[0]]))
        ranked = rfm.score_profiles(profiles, AS_OF)
        # When each half is scored alone against the whole population's cut points
        cut_points = rfm_cut_points(profiles, ranked, AS_OF)
        halves = [rfm.score_profiles(profiles.slice(start, length), AS_OF, cut_points)
                  for start, length in ((0, len(rows) // 2), (len(rows) // 2, len(rows)))]
        # Then every score is the ranked one
        assert pa.concat_tables(halves).to_pylist() == ranked.to_pylist(), buyers


def test_shards_are_stable_disjoint_and_cover_every_profile() -> None:
    ids = pa.array([f"p{n}" for n in range(1000)])
    shards = shard_of(ids, 7)
    assert shard_of(ids, 7).equals(shards) and pc.min(shards).as_py() == 0 and pc.max(shards).as_py() == 6
    counts = pc.value_counts(shards).field("counts").to_pylist()
    assert sum(counts) == 1000 and min(counts) > 100
