"""Live segments: which definitions one profile decides, the pure evaluator against the batch one, and the use case's
enter/exit events and timers on an in-memory store."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdp.segments.cut_points import quintile_positions
from cdp.segments.definitions import InvalidDefinitions, load_library, parse_document
from cdp.segments.evaluate import evaluate
from cdp.segments.live_ports import RfmCutPoints
from cdp.segments.realtime import LiveSegments, classify, live_segments, memberships, profile_fields
from cdp.segments.timers import bucket_of, sweep
from fakes import FakeLiveSegmentStore, RecordingPublisher
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


# ---------------------------------------------------------------- the use case and its timers, on a simulated clock

def _live(*profiles_: dict[str, Any], cut_points: RfmCutPoints | None = CUTS) -> tuple[LiveSegments, FakeLiveSegmentStore]:
    store = FakeLiveSegmentStore(profiles={item["profile_id"]: item for item in profiles_}, stored_cut_points=cut_points)
    return LiveSegments(LIBRARY, store), store


def _run_clock(live: LiveSegments, store: FakeLiveSegmentStore, start: datetime, minutes: int) -> dict[str, datetime]:
    """Sweep once a minute from `start` (each tick 2 s into its minute); the first tick each segment was entered at."""
    entered: dict[str, datetime] = {}
    publisher = RecordingPublisher()
    for step in range(minutes):
        now = start + timedelta(minutes=step, seconds=2)
        for event in sweep(store, live.on_timer, now, publisher).events:
            if event.detail_type == "Segment Entered":
                assert event.detail["trigger"] == "timer"
                entered.setdefault(event.detail["segment"], now.replace(second=0))
    return entered


def test_a_batch_decides_every_profile_on_the_cut_points_read_once_as_it_starts() -> None:
    # Given two buyers with revenue in the top quintile and no cut points stored yet
    buyers = [{"profile_id": f"p{n}", "orders_count": 3, "revenue": 900, "last_order_at": (NOW - timedelta(days=3)).isoformat()}
              for n in range(2)]  # fmt: skip
    live, store = _live(*buyers, cut_points=None)
    # When a batch starts, the segment run then saves cut points, and the batch decides both profiles
    decide = live.realtime_decisions(NOW)
    store.stored_cut_points = CUTS
    changes = [decide(item) for item in buyers]
    # Then the store was read once, and both decisions are those of the batch's start: no M score, so not high value
    assert store.cut_point_reads == 1
    assert all("high_value" not in change.memberships and "lifecycle_active" in change.memberships
               for change in changes)  # fmt: skip
    # And the next batch decides on the saved cut points
    assert "high_value" in live.realtime_decisions(NOW)(buyers[0]).memberships


def test_an_order_that_lifts_a_profile_into_high_value_announces_it_once() -> None:
    # Given a buyer with M score 4 (revenue 300) in one_time_buyers
    item = {"profile_id": "p1", "orders_count": 1, "revenue": 300, "last_order_at": (NOW - timedelta(days=3)).isoformat()}
    live, store = _live(item)
    live.after_update({"p1": item}, NOW)
    assert "high_value" not in store.members
    # When an order lifts revenue above the top quintile's cut point, and the same state is decided again (a replay)
    store.profiles["p1"] = lifted = {**store.profiles["p1"], "orders_count": 2, "revenue": 900}
    first = live.after_update({"p1": lifted}, NOW)
    again = live.after_update({"p1": store.profiles["p1"]}, NOW)
    # Then high_value is entered once, one_time_buyers exited once, in real time; the replay emits nothing
    transitions = [(e.detail_type, e.detail["segment"], e.detail["trigger"]) for e in first]
    assert {("Segment Entered", "high_value", "realtime"), ("Segment Exited", "one_time_buyers", "realtime")} <= set(
        transitions)
    assert len(transitions) == len(set(transitions))
    assert again == []
    assert store.members["high_value"]["p1"] == {"at": NOW.isoformat(), "trigger": "realtime"}


def test_a_stale_read_is_decided_again_on_the_stored_profile() -> None:
    # Given a profile another writer already moved into high_value (memberships version 1)
    item = {"profile_id": "p1", "orders_count": 2, "revenue": 900, "last_order_at": NOW.isoformat()}
    live, store = _live(item)
    live.after_update({"p1": dict(item)}, NOW)
    # When a request decides from the state it read before that write
    events_ = live.after_update({"p1": item}, NOW)
    # Then its write is refused, the stored profile is decided again, and nothing is announced twice
    assert events_ == [] and store.writes == 1


def test_no_order_for_30_days_fires_at_its_minute_not_before_and_a_later_order_moves_it() -> None:
    # Given a last order at 09:17:40 on 1 November
    last_order = datetime(2026, 11, 1, 9, 17, 40, tzinfo=UTC)
    item = {"profile_id": "p1", "orders_count": 1, "revenue": 10, "last_order_at": last_order.isoformat()}
    live, store = _live(item)
    live.after_update({"p1": item}, last_order)
    assert store.timers_of("p1")["no_order_30_days"] == "2026-12-01T09:18"
    # When a new order arrives on 20 November at 14:00:05
    second = datetime(2026, 11, 20, 14, 0, 5, tzinfo=UTC)
    store.profiles["p1"] = {**store.profiles["p1"], "orders_count": 2, "last_order_at": second.isoformat()}
    live.after_update({"p1": store.profiles["p1"]}, second)
    # Then the timer moved to 30 days after it, and the old bucket holds nothing
    assert store.timers_of("p1")["no_order_30_days"] == "2026-12-20T14:01"
    assert not store.timers.get("2026-12-01T09:18")
    # and a clock sweeping every minute from 14:00 that day fires it at 14:01, not before
    entered = _run_clock(live, store, datetime(2026, 12, 20, 13, 55, tzinfo=UTC), 10)
    assert entered["no_order_30_days"] == datetime(2026, 12, 20, 14, 1, tzinfo=UTC)
    assert store.members["no_order_30_days"]["p1"]["trigger"] == "timer"


def test_a_missed_minute_is_caught_up_by_the_next_sweep() -> None:
    # Given a timer due at 14:01 and a sweep that ran at 14:00
    last_order = datetime(2026, 11, 20, 14, 0, 5, tzinfo=UTC)
    item = {"profile_id": "p1", "orders_count": 1, "revenue": 10, "last_order_at": last_order.isoformat()}
    live, store = _live(item, cut_points=None)  # no RFM scores: only the lapse changes at that minute
    live.after_update({"p1": item}, last_order)
    publisher = RecordingPublisher()
    sweep(store, live.on_timer, datetime(2026, 12, 20, 14, 0, 2, tzinfo=UTC), publisher)
    # When the 14:01 and 14:02 ticks are missed and the next sweep runs at 14:03
    result = sweep(store, live.on_timer, datetime(2026, 12, 20, 14, 3, 1, tzinfo=UTC), publisher)
    # Then it takes the three buckets since the last one and fires the timer once
    assert result.buckets == ["2026-12-20T14:01", "2026-12-20T14:02", "2026-12-20T14:03"]
    assert [(e.detail_type, e.detail["segment"], e.detail["trigger"]) for e in result.events] == [
        ("Segment Entered", "no_order_30_days", "timer")]
    assert sweep(store, live.on_timer, datetime(2026, 12, 20, 14, 3, 30, tzinfo=UTC), publisher).events == []


@pytest.mark.parametrize(
    ("timezone", "enters_at", "exits_at"),
    [
        ("Asia/Shanghai", datetime(2026, 12, 6, 16, 0, tzinfo=UTC), datetime(2026, 12, 7, 16, 0, tzinfo=UTC)),
        ("America/Los_Angeles", datetime(2026, 12, 7, 8, 0, tzinfo=UTC), datetime(2026, 12, 8, 8, 0, tzinfo=UTC)),
        (None, datetime(2026, 12, 7, 0, 0, tzinfo=UTC), datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
    ],
)
def test_birthday_today_begins_and_ends_at_the_customers_local_midnight(
    timezone: str | None, enters_at: datetime, exits_at: datetime
) -> None:
    # Given a customer born on 7 December, in their time zone
    item = {"profile_id": "p1", "birthday": "1990-12-07", **({"timezone": timezone} if timezone else {})}
    live, store = _live(item)
    live.after_update({"p1": item}, datetime(2026, 12, 1, tzinfo=UTC))
    assert store.timers_of("p1")["birthday_today"] == bucket_of(enters_at)
    # When the clock runs minute by minute around both local midnights
    publisher = RecordingPublisher()
    ticks: list[tuple[datetime, str, str]] = []
    for start in (enters_at - timedelta(minutes=3), exits_at - timedelta(minutes=3)):
        store.swept = None
        for step in range(6):
            now = start + timedelta(minutes=step, seconds=2)
            ticks += [(now.replace(second=0), e.detail_type, e.detail["segment"])
                      for e in sweep(store, live.on_timer, now, publisher).events]  # fmt: skip
    # Then the customer enters at the local midnight starting the birthday and exits at the one ending it
    assert ticks == [(enters_at, "Segment Entered", "birthday_today"), (exits_at, "Segment Exited", "birthday_today")]


def test_points_expiring_in_7_days_fires_seven_days_before_the_expiry() -> None:
    # Given 40 points expiring on 15 December (midnight UTC)
    item = {"profile_id": "p1", "points_expiries": {"2026-12-15": 40}}
    live, store = _live(item)
    live.after_update({"p1": item}, datetime(2026, 12, 1, tzinfo=UTC))
    # When the clock runs past 8 December 00:00
    entered = _run_clock(live, store, datetime(2026, 12, 7, 23, 57, tzinfo=UTC), 6)
    # Then the profile enters at that minute
    assert entered == {"points_expiring_7_days": datetime(2026, 12, 8, 0, 0, tzinfo=UTC)}


def test_a_profile_that_refused_profiling_is_in_no_live_segment_and_has_no_timers() -> None:
    item = {"profile_id": "p1", "orders_count": 1, "revenue": 900, "last_order_at": NOW.isoformat()}
    live, store = _live(item)
    live.after_update({"p1": item}, NOW)
    refused = {**store.profiles["p1"], "consent": {"email:profiling": {"granted": False, "recorded_at": "2026-11-23"}}}
    events_ = live.after_update({"p1": refused}, NOW)
    assert {"high_value", "one_time_buyers"} <= {e.detail["segment"] for e in events_}
    assert all(e.detail_type == "Segment Exited" for e in events_)
    assert store.profiles["p1"]["memberships"] == {} and store.timers_of("p1") == {}


def test_timers_of_a_profile_merged_away_are_dropped() -> None:
    item = {"profile_id": "p1", "orders_count": 1, "revenue": 10, "last_order_at": NOW.isoformat()}
    live, store = _live(item)
    live.after_update({"p1": item}, NOW)
    minute = store.timers_of("p1")["no_order_30_days"]
    store.profiles["p1"]["redirect_to"] = "p2"
    result = sweep(store, live.on_timer, datetime.strptime(minute, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC), RecordingPublisher())
    assert result.dropped >= 1 and not store.timers.get(minute)


# ---------------------------------------------------------------- anniversaries in the customer's zone, both evaluators


def test_anniversary_today_is_refused_on_a_timestamp_or_with_a_value() -> None:
    with pytest.raises(InvalidDefinitions) as refused:
        parse_document({"segments": [
            {"name": "a", "version": 1, "where": {"field": "signup_at", "op": "anniversary_today"}},
            {"name": "b", "version": 1, "where": {"field": "birthday", "op": "anniversary_today", "value": "12-07"}},
        ]})  # fmt: skip
    assert [str(problem) for problem in refused.value.problems] == [
        "segments[0].where.op: 'anniversary_today' does not apply to a timestamp value",
        "segments[1].where.value: 'anniversary_today' takes no value",
    ]


@pytest.mark.parametrize(
    ("now", "timezone", "birthday", "expected"),
    [
        (datetime(2027, 2, 28, 12, tzinfo=UTC), None, "2000-02-29", True),  # not a leap year: the 28th
        (datetime(2028, 2, 28, 12, tzinfo=UTC), None, "2000-02-29", False),  # a leap year: the 29th
        (datetime(2026, 12, 6, 17, tzinfo=UTC), "Asia/Shanghai", "1990-12-07", True),  # already the 7th there
        (datetime(2026, 12, 7, 7, tzinfo=UTC), "America/Los_Angeles", "1990-12-07", False),  # still the 6th there
        (datetime(2026, 12, 7, 7, tzinfo=UTC), "Not/AZone", "1990-12-07", True),  # unknown zone: UTC
    ],
)
def test_both_evaluators_agree_on_birthday_today(now: datetime, timezone: str | None, birthday: str, expected: bool) -> None:
    item = {"profile_id": "p1", "birthday": birthday, **({"timezone": timezone} if timezone else {})}
    fields = profile_fields(item, now, None)
    live = memberships(live_segments(LIBRARY), fields, now)["birthday_today"]
    batch = evaluate(LIBRARY, profiles([{"profile_id": "p1", "birthday": fields["birthday"], "timezone": timezone}]),
                     events(), order_lines(), now).members("birthday_today").to_pylist()  # fmt: skip
    assert live == expected and batch == (["p1"] if expected else [])


# ---------------------------------------------------------------- the member day, a calendar day in the customer's zone


def test_member_day_begins_and_ends_at_a_members_local_midnight_on_the_8th() -> None:
    # Given a gold member in Shanghai, seen on 1 December
    item = {"profile_id": "p1", "loyalty": {"tier": "gold"}, "timezone": "Asia/Shanghai"}
    live, store = _live(item)
    live.after_update({"p1": item}, datetime(2026, 12, 1, tzinfo=UTC))
    enters_at, exits_at = datetime(2026, 12, 7, 16, 0, tzinfo=UTC), datetime(2026, 12, 8, 16, 0, tzinfo=UTC)
    assert store.timers_of("p1")["member_day"] == bucket_of(enters_at)
    # When the clock runs minute by minute around both local midnights
    ticks: list[tuple[datetime, str]] = []
    for start in (enters_at - timedelta(minutes=3), exits_at - timedelta(minutes=3)):
        store.swept = None
        for step in range(6):
            now = start + timedelta(minutes=step, seconds=2)
            ticks += [(now.replace(second=0), e.detail_type) for e in sweep(store, live.on_timer, now, RecordingPublisher()).events
                      if e.detail["segment"] == "member_day"]  # fmt: skip
    # Then the member enters at the midnight starting the 8th there and exits at the one ending it; the next timer is
    # the 8th of January
    assert ticks == [(enters_at, "Segment Entered"), (exits_at, "Segment Exited")]
    assert store.timers_of("p1")["member_day"] == bucket_of(datetime(2027, 1, 7, 16, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("now", "timezone", "tier", "expected"),
    [
        (datetime(2026, 12, 8, 12, tzinfo=UTC), None, "gold", True),
        (datetime(2026, 12, 8, 12, tzinfo=UTC), None, None, False),  # not a member
        (datetime(2026, 12, 7, 17, tzinfo=UTC), "Asia/Shanghai", "vip", True),  # already the 8th there
        (datetime(2026, 12, 8, 7, tzinfo=UTC), "America/Los_Angeles", "vip", False),  # still the 7th there
    ],
)
def test_both_evaluators_agree_on_member_day(now: datetime, timezone: str | None, tier: str | None, expected: bool) -> None:
    item = {"profile_id": "p1", **({"loyalty": {"tier": tier}} if tier else {}), **({"timezone": timezone} if timezone else {})}
    live = memberships(live_segments(LIBRARY), profile_fields(item, now, None), now)["member_day"]
    batch = evaluate(LIBRARY, profiles([{"profile_id": "p1", "loyalty_tier": tier, "timezone": timezone}]),
                     events(), order_lines(), now).members("member_day").to_pylist()  # fmt: skip
    assert live == expected and batch == (["p1"] if expected else [])


def test_a_calendar_day_outside_1_to_31_is_refused_with_its_place() -> None:
    with pytest.raises(InvalidDefinitions) as refused:
        parse_document({"segments": [{"name": "a", "version": 1, "where": {"today": {"day_of_month": 32}}}]})
    assert [problem.path for problem in refused.value.problems] == ["segments[0].where.today.day_of_month"]
