"""Live segments: which definitions one profile decides, the pure evaluator against the batch one, and the use case's
enter/exit events and timers on an in-memory store."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from cdp.segments.cut_points import RfmCutPoints, quintile_positions
from cdp.segments.definitions import load_library, parse_document
from cdp.segments.evaluate import evaluate
from cdp.segments.realtime import LiveSegments, classify, live_segments, memberships, profile_fields
from cdp.segments.vocabulary import PROFILE_FIELDS
from fakes import FakeLiveSegmentStore
from segment_tables import events, order_lines, profiles

LIBRARY = load_library()
NOW = datetime(2026, 11, 23, 10, 5, 30, tzinfo=UTC)
CUTS = RfmCutPoints(recency_days=(300.0, 120.0, 60.0, 20.0), orders_count=(1.0, 1.0, 2.0, 4.0),
                    revenue=(50.0, 120.0, 250.0, 600.0), computed_at=NOW.isoformat())  # fmt: skip


def test_the_library_splits_into_live_segments_and_those_the_job_computes() -> None:
    # Given the shipped library
    # When it is classified
    reasons = classify(LIBRARY)
    # Then profile-only segments are live, behaviour windows and tags are not, and references follow their target
    live = {name for name, reason in reasons.items() if reason is None}
    assert {"high_value", "vip_tier", "one_time_buyers", "points_expiring_7_days", "birthday_this_month",
            "birthday_today", "no_order_30_days", "at_risk_high_value", "lifecycle_active", "rfm_champions"} <= live
    assert reasons["cart_abandoners"] == "reads event in a window"
    assert reasons["discount_sensitive"] == "reads the computed tag 'discount_share'"


def test_a_segment_on_a_segment_that_is_not_live_is_not_live() -> None:
    document = parse_document({"segments": [
        {"name": "viewers", "version": 1, "where": {"event": {"name": "Product Viewed"}}},
        {"name": "big_viewers", "version": 1, "where": {"all": [{"segment": "viewers"},
                                                                {"field": "revenue", "op": "top_percent", "value": 10}]}},
        {"name": "spenders", "version": 1, "where": {"field": "revenue", "op": "top_percent", "value": 10}},
    ]})  # fmt: skip
    assert classify(document) == {
        "viewers": "reads event in a window",
        "big_viewers": "refers to segment 'viewers', which is not live",
        "spenders": "top_percent ranks the whole population",
    }


def test_quintile_positions_reproduce_the_runs_scores() -> None:
    # Given buyers' revenues scored as the run scores them: 1 + floor(5 * (rank - 1) / n), rank = SQL RANK
    rng = random.Random(7)
    for buyers in (1, 2, 3, 7, 10, 101):
        values = sorted(rng.choice([10.0, 20.0, 35.0, 50.0, 80.0, 99.0]) for _ in range(buyers))
        thresholds = tuple(None if p is None else values[p] for p in quintile_positions(buyers))
        cuts = RfmCutPoints((None,) * 4, (None,) * 4, thresholds, "t")
        for value in values:
            expected = 1 + (5 * sum(other < value for other in values)) // buyers
            assert cuts.score("revenue", value) == expected


def _random_profile(rng: random.Random, number: int) -> dict[str, Any]:
    """A stored profile item with random attributes, aggregates, consent, loyalty and dates near NOW."""
    def moment() -> str | None:
        return rng.choice([None, (NOW - timedelta(days=rng.uniform(-10, 400))).isoformat()])

    orders = rng.choice([0, 1, 2, 3, 6])
    return {
        "profile_id": f"p{number}", "created_at": (NOW - timedelta(days=500)).isoformat(),
        "signed_up_at": moment(), "first_order_at": moment(), "last_order_at": moment() if orders else None,
        "orders_count": orders, "revenue": rng.choice([0, 40, 130, 700]), "country": rng.choice(["FR", "CN", None]),
        "birthday": rng.choice([None, "1990-11-23", "1985-11-02", "2000-02-29", "1979-06-01"]),
        "timezone": rng.choice([None, "Asia/Shanghai", "America/Los_Angeles"]),
        "loyalty_tier": rng.choice([None, "vip", "silver"]), "favourite_categories": rng.choice([[], ["shoes"]]),
        "points_expiries": rng.choice([{}, {(NOW + timedelta(days=rng.randint(0, 20))).date().isoformat(): 40}]),
        "consent": rng.choice([{}, {"email:marketing": {"granted": True, "recorded_at": "2026-01-01"}}]),
    }


def test_the_live_evaluator_agrees_with_the_batch_evaluator_on_every_live_segment() -> None:
    # Given 300 random profiles, as flat fields (RFM scores from the cut points) and as a batch profiles table
    rng = random.Random(15)
    fields = [profile_fields(_random_profile(rng, number), NOW, CUTS) for number in range(300)]
    live = [segment for segment in LIBRARY.segments if classify(LIBRARY)[segment.name] is None]
    columns = sorted({name for row in fields for name in row})
    table = profiles([{name: row.get(name) for name in columns} for row in fields])
    # When both evaluate the library
    batch = evaluate(LIBRARY, table, events(), order_lines(), NOW)
    # Then every live segment has the same members
    verdicts = [memberships(live_segments(LIBRARY), row, NOW) for row in fields]
    for segment in live:
        expected = batch.members(segment.name).to_pylist()
        assert [row["profile_id"] for row, v in zip(fields, verdicts) if v[segment.name]] == expected, segment.name
    assert sum(any(v[segment.name] for v in verdicts) for segment in live) >= 20  # most segments have members
