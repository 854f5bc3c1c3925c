"""Campaign domain without AWS: definitions refused by field, rule audiences from a snapshot, the queued bodies and
assignment rows of a start, the worker's pacing, state cache and outcome counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdp.campaigns.definition import parse_campaign
from cdp.campaigns.deliver import CampaignWorker, QueuedSend, StateCache, WorkerParts
from cdp.campaigns.ports import RunPlan
from cdp.campaigns.run import StartParts, resolve_audience, start_run
from cdp.errors import Invalid, Unavailable
from cdp.messaging.assignment import HOLDOUT, assign
from cdp.messaging.requests import MessageRequest

from tests.fakes import FakeCampaignSending

BASE = {"name": "sale", "audience": {"segment": "rfm:Champions"}, "template": "sale", "channel": "email",
        "schedule": {"rate": "7 days"}}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "Sale!"}, "name"),
        ({"audience": {}}, "audience"),
        ({"audience": {"segment": "a", "rule": {"segment": "b"}}}, "audience"),
        ({"audience": {"rule": {"all": []}}}, "audience.rule.all"),
        ({"audience": {"rule": {"not": {"event": {"name": "Order Completed"}}}}}, "audience.rule.not"),
        ({"schedule": {"rate": "7 days", "cron": "0 10 * * ? *"}}, "schedule"),
        ({"schedule": {"at": "2030-01-01T10:00:00+01:00"}}, "schedule.at"),
        ({"schedule": {"rate": "0 days"}}, "schedule.rate"),
        ({"variants": [{"name": "a", "percent": 50}, {"name": "a", "percent": 50}]}, "variants"),
        ({"variants": []}, "variants"),
        ({"holdout_percent": -1}, "holdout_percent"),
        ({"priority": 101}, "priority"),
        ({"expires_after": {"days": 0}}, "expires_after"),
        ({"purpose": "spam"}, "purpose"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_a_bad_definition_names_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_campaign({**BASE, **changes})
    assert field in [problem["field"] for problem in refused.value.fields or []], refused.value.fields


def test_a_good_definition_has_its_defaults_and_expression() -> None:
    campaign = parse_campaign({**BASE, "schedule": {"at": "2030-01-01T10:00:00", "timezone": "Asia/Shanghai"}})
    assert campaign.split() == {"main": 100} and campaign.state == "active"
    assert campaign.schedule.expression() == "at(2030-01-01T10:00:00)"
    assert campaign.expires_after.length == timedelta(hours=24)


class _Snapshot:
    memberships = {"vip": {"p1", "p2", "p3"}, "lapsed": {"p3", "p4"}, "lifecycle:active": {"p1", "p2", "p3", "p4", "p5"}}

    def members(self, segment: str) -> list[str]:
        return sorted(self.memberships.get(segment, set()))

    def everyone(self) -> list[str]:
        return sorted(set().union(*self.memberships.values()))

    def segments(self) -> set[str]:
        return set(self.memberships)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"segment": "vip"}, ["p1", "p2", "p3"]),
        ({"all": [{"segment": "vip"}, {"not": {"segment": "lapsed"}}]}, ["p1", "p2"]),
        ({"any": [{"segment": "vip"}, {"segment": "lapsed"}]}, ["p1", "p2", "p3", "p4"]),
        ({"not": {"any": [{"segment": "vip"}, {"segment": "lapsed"}]}}, ["p5"]),
    ],
)
def test_a_rule_audience_is_resolved_from_the_snapshot(rule: dict[str, Any], expected: list[str]) -> None:
    audience = parse_campaign({**BASE, "audience": {"rule": rule}}).audience
    assert resolve_audience(audience, _Snapshot()) == (expected, [])


def test_a_segment_missing_from_the_snapshot_is_an_empty_audience_and_reported() -> None:
    audience = parse_campaign({**BASE, "audience": {"segment": "nobody"}}).audience
    assert resolve_audience(audience, _Snapshot()) == ([], ["nobody"])


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class _Budget:
    """Per-second budgets (cdp.campaigns.ports.RateBudget) and a state per campaign, counting state reads."""

    def __init__(self) -> None:
        self.used: dict[int, int] = {}
        self.states: dict[str, str] = {"sale": "active"}
        self.reads = 0
        self.outcomes: dict[str, Any] = {}
        self.requeued: list[tuple[str, int]] = []

    def take(self, name: str, second: int, wanted: int, limit: int) -> int:
        used = self.used.get(second, 0)
        self.used[second] = used + wanted
        return max(0, min(wanted, limit - used))

    def state(self, name: str) -> Any:
        self.reads += 1
        return self.states.get(name)

    def add_outcomes(self, name: str, run_id: str, counts: Any) -> None:
        self.outcomes[run_id] = dict(counts)

    def enqueue(self, bodies: Any, delay_seconds: int = 0) -> None:
        self.requeued += [(body, delay_seconds) for body in bodies]


def _queued(profile_id: str, rate: int = 3) -> QueuedSend:
    request = MessageRequest(profile_id=profile_id, origin="campaign", origin_name="sale", step="send",
                             occurrence="20261203T100000Z", channel="email", template="sale")  # fmt: skip
    return QueuedSend(request=request, rate_per_second=rate)


def _worker(budget: _Budget, clock: _Clock, sending: FakeCampaignSending) -> CampaignWorker:
    states = StateCache(budget, timedelta(seconds=3), clock)
    return CampaignWorker(WorkerParts(states, sending, budget, budget, budget, 60, clock, clock.sleep))  # type: ignore[arg-type]


def test_the_worker_keeps_the_rate_and_reads_the_state_once_per_few_seconds() -> None:
    # Given: a run at 3 messages a second, and 12 queued messages
    budget, clock, sending = _Budget(), _Clock(), FakeCampaignSending()
    worker = _worker(budget, clock, sending)
    # When: they are delivered
    results = [worker.deliver(_queued(f"p{number}")) for number in range(12)]
    worker.flush()
    # Then: 3 per second (waiting for the next second), the state read once per 3 seconds, counts per variant
    assert results == ["sent"] * 12
    assert max(min(used, 3) for used in budget.used.values()) == 3 and len(budget.used) == 4
    assert clock.now - datetime(2026, 12, 3, 10, 0, tzinfo=UTC) == timedelta(seconds=3)
    assert budget.reads == 2
    assert budget.outcomes == {"20261203T100000Z": {"main:sent": 12}}


def test_paused_messages_are_held_and_cancelled_ones_skipped_and_a_busy_budget_fails() -> None:
    budget, clock, sending = _Budget(), _Clock(), FakeCampaignSending()
    budget.states["sale"] = "paused"
    assert _worker(budget, clock, sending).deliver(_queued("p1")) == "held"
    assert len(budget.requeued) == 1 and budget.requeued[0][1] == 60 and not sending.attempts
    budget.states["sale"] = "cancelled"
    worker = _worker(budget, clock, sending)
    assert worker.deliver(_queued("p1")) == "skipped"
    worker.flush()
    assert budget.outcomes["20261203T100000Z"] == {"main:skipped:campaign_cancelled": 1}
    budget.states["sale"] = "active"
    budget.take = lambda *arguments: 0  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        _worker(budget, clock, sending).deliver(_queued("p2"))


class _StartParts:
    """The campaign store, snapshot, queue, stream and quota of a start, in memory."""

    def __init__(self, definition: dict[str, Any], members: list[str]) -> None:
        self.campaign = parse_campaign(definition)
        self.members = members
        self.bodies: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def get(self, name: str) -> Any:
        return self.campaign

    def begin_run(self, name: str, plan: RunPlan) -> RunPlan:
        return plan

    def chunks_done(self, name: str, run_id: str) -> set[int]:
        return set()

    def mark_chunk(self, *arguments: Any) -> None:
        pass

    def finish_run(self, *arguments: Any) -> None:
        pass

    def latest(self) -> str:
        return "segment_memberships/dt=2026-12-03/run=r/part-0.parquet"

    def audience(self, key: str) -> Any:
        snapshot = _Snapshot()
        snapshot.memberships = {"rfm:Champions": set(self.members)}
        return snapshot

    def enqueue(self, bodies: Any, delay_seconds: int = 0) -> None:
        self.bodies += bodies

    def record(self, rows: list[dict[str, Any]]) -> None:
        self.rows += rows

    def max_send_rate(self) -> float:
        return 14.0


def test_a_start_queues_each_messaged_profile_its_validated_request_and_records_every_assignment() -> None:
    # Given: ids JSON must escape, and two variants with their own template and context
    members = ['p"quote', "back\\slash", "caf\u00e9-\u4e2d", "tab\tid"] + [f"p{number:04d}" for number in range(2_500)]
    definition = {
        **BASE,
        "holdout_percent": 10,
        "send_rate_per_second": 20,
        "variants": [
            {"name": "a", "percent": 60, "context": {"offer": "2x"}},
            {"name": "b", "percent": 40, "template": "other"},
        ],
    }
    parts = _StartParts(definition, members)
    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    # When
    summary = start_run("sale", now, StartParts(parts, parts, parts, parts, parts), now)  # type: ignore[arg-type]
    # Then: each body is json.dumps of the request the campaign makes for that profile in its variant
    groups = {member: assign(member, "sale", 10, {"a": 60, "b": 40}) for member in members}
    assert summary.audience == len(members) and summary.chunks == 3 and sum(summary.groups.values()) == len(members)
    expected = []
    for member in sorted(members):
        if groups[member] == HOLDOUT:
            continue
        variant = parts.campaign.variants[groups[member] == "b"]
        request = MessageRequest(profile_id=member, origin="campaign", origin_name="sale", step="send",
                                 occurrence="20261203T100000Z", variant=variant.name, channel="email",
                                 template=variant.template or "sale", expires_at=now + timedelta(hours=24),
                                 context=variant.context)  # fmt: skip
        expected.append(json.dumps({"request": request.model_dump(mode="json"), "rate_per_second": 14}))
    assert parts.bodies == expected
    assert [QueuedSend.model_validate_json(body).request.profile_id for body in parts.bodies[:3]] == [
        member for member in sorted(members) if groups[member] != HOLDOUT
    ][:3]
    # and one row per profile, in its group, each its own dict
    assert [(row["profile_id"], row["variant"], row["event"]) for row in parts.rows] == [
        (member, groups[member], "holdout" if groups[member] == HOLDOUT else "assigned") for member in sorted(members)
    ]
    assert len({id(row) for row in parts.rows}) == len(members)
    assert {row["template"] for row in parts.rows if row["variant"] == "b"} == {"other"}
