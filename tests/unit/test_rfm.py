"""RFM scores, the R x F segment grid and lifecycle stages, on hand-made tables with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from cdp.segments.compute import compute_segments
from cdp.segments.rfm import GRID, NO_PURCHASES, score_profiles

AS_OF = datetime(2026, 11, 23, tzinfo=UTC)


def _ago(days: int | None) -> datetime | None:
    return None if days is None else AS_OF - timedelta(days=days)


def _profiles(rows: list[tuple[str, int, int | None, int, float]]) -> pa.Table:
    """(id, created days ago, last order days ago, orders, revenue)."""
    return pa.table({
        "profile_id": [r[0] for r in rows], "first_seen_at": [_ago(r[1]) for r in rows],
        "last_order_at": [_ago(r[2]) for r in rows], "orders_count": [r[3] for r in rows],
        "revenue": [r[4] for r in rows],
    })  # fmt: skip


def test_ten_buyers_fill_each_quintile_twice_and_recency_scores_recent_buyers_high() -> None:
    # Given: buyer i ordered i days ago, i+1 times, spending 10*i
    table = _profiles([(f"p{i}", 400, i + 1, i + 1, 10.0 * i) for i in range(10)])
    # When
    scores = score_profiles(table, AS_OF).to_pylist()
    # Then
    assert [s["f_score"] for s in scores] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [s["m_score"] for s in scores] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [s["r_score"] for s in scores] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert [s["recency_days"] for s in scores] == list(range(1, 11))


def test_ties_are_broken_by_profile_id_so_runs_repeat() -> None:
    # Given: five identical buyers
    table = _profiles([(f"p{i}", 400, 10, 2, 20.0) for i in reversed(range(5))])
    # When
    scores = {s["profile_id"]: s["f_score"] for s in score_profiles(table, AS_OF).to_pylist()}
    # Then
    assert scores == {"p0": 1, "p1": 2, "p2": 3, "p3": 4, "p4": 5}


def test_the_grid_names_every_score_pair() -> None:
    # Given / When / Then
    assert set(GRID) == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert (GRID[(5, 5)], GRID[(1, 1)], GRID[(1, 5)], GRID[(5, 1)]) == (
        "Champions",
        "Lost",
        "Cannot Lose Them",
        "New Customers",
    )


@pytest.mark.parametrize(
    ("created", "last_order", "orders", "stage", "segment"),
    [
        (10, None, 0, "new", NO_PURCHASES),
        (40, None, 0, "prospect", NO_PURCHASES),
        (10, 2, 1, "new", None),
        (400, 90, 3, "active", None),
        (400, 91, 3, "dormant", None),
        (400, 365, 3, "dormant", None),
        (800, 366, 3, "churned", None),
    ],
)
def test_lifecycle_stages(created: int, last_order: int | None, orders: int, stage: str, segment: str | None) -> None:
    # Given / When
    scored = score_profiles(_profiles([("p", created, last_order, orders, 10.0)]), AS_OF).to_pylist()[0]
    # Then
    assert scored["lifecycle_stage"] == stage
    if segment:
        assert scored["rfm_segment"] == segment


class _MemoryStore:
    """An in-memory segment repository (the port compute_segments writes through)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.held: dict[str, dict] = {}
        self.members: set[tuple[str, str]] = set()
        self.saves = 0

    def load_profiles(self):
        return self.table, {pid: dict(v) for pid, v in self.held.items()}

    def save_scores(self, profile_id, rfm, lifecycle_stage, computed_at) -> None:
        self.saves += 1
        self.held[profile_id] = {"rfm": rfm, "lifecycle_stage": lifecycle_stage}

    def move_memberships(self, entered, exited) -> None:
        self.members = (self.members - set(exited)) | set(entered)


def test_a_second_run_writes_and_emits_only_what_changed() -> None:
    # Given: two profiles scored once
    store = _MemoryStore(_profiles([("a", 400, 5, 9, 500.0), ("b", 400, None, 0, 0.0)]))
    first = compute_segments(store, AS_OF)
    # When: nothing changes, then b buys
    unchanged = compute_segments(store, AS_OF)
    store.table = _profiles([("a", 400, 5, 9, 500.0), ("b", 400, 1, 1, 20.0)])
    changed = compute_segments(store, AS_OF)
    # Then
    assert len(first.events) == 4 and first.sizes["lifecycle:prospect"] == 1
    assert (unchanged.events, store.saves) == ([], 4)
    # (a is rescored too: quintiles are relative to the other buyers)
    assert {(e.detail_type, e.detail["segment"]) for e in changed.events if e.detail["profile_id"] == "b"} == {
        ("Segment Exited", "rfm:No Purchases Yet"),
        ("Segment Exited", "lifecycle:prospect"),
        ("Segment Entered", f"rfm:{changed_segment(store)}"),
        ("Segment Entered", "lifecycle:active"),
    }


def changed_segment(store: _MemoryStore) -> str:
    return store.held["b"]["rfm"]["segment"]
