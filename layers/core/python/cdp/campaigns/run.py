"""Start one run of a campaign: resolve the audience from the membership snapshot, assign holdout and variants,
record who was assigned, and queue one send per messaged profile, in chunks, idempotently.

Idempotency: the run id is the schedule's firing time, and the first start stores the run's plan (the snapshot it
read, the capped send rate, the expiry). A retried start reads the same plan, hence the same sorted audience and the
same chunks, and skips the chunks whose marker is written. A chunk is marked only after its sends are queued and its
assignment rows recorded, so a crash between queueing and marking queues that chunk again: the duplicate sends carry
the same exactly-once key (`campaign#<name>#send#<run id>` per profile), which the sending service refuses to send
twice (`already_sent`); at most one chunk's assignment rows repeat, with the same values.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from cdp.campaigns.definition import HOLDOUT, Audience, Campaign
from cdp.campaigns.ports import Audiences, CampaignStore, RunPlan, SendQueue, SendQuota, Snapshots
from cdp.errors import NotFound
from cdp.messaging.assignment import Split
from cdp.messaging.ports import MessageEvents
from cdp.messaging.requests import MessageRequest

CHUNK_SIZE = 1_000  # profiles per chunk marker: a 1M audience is 1,000 markers and 100,000 SendMessageBatch calls
STEP = "send"


@dataclass(frozen=True)
class StartParts:
    campaigns: CampaignStore
    snapshots: Snapshots
    queue: SendQueue
    events: MessageEvents
    quota: SendQuota


@dataclass
class RunSummary:
    """What a start did: the audience and its split, and how many chunks it queued now (0 when all were done)."""

    campaign: str
    run_id: str
    status: str  # enqueued | not_active:<state>
    audience: int = 0
    groups: Counter[str] = field(default_factory=Counter)  # holdout and each variant
    chunks: int = 0
    chunks_queued: int = 0
    missing_segments: list[str] = field(default_factory=list)


def run_id_of(scheduled_at: datetime) -> str:
    """The run's id: its scheduled time in UTC, compact (a valid MessageRequest occurrence)."""
    return scheduled_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def resolve_audience(audience: Audience, snapshot: Audiences) -> tuple[list[str], list[str]]:
    """The audience's profile ids, sorted and unique, and the segments the snapshot does not hold (empty there)."""
    known = snapshot.segments()
    missing = sorted(audience.segments() - known)
    if audience.segment is not None:
        return sorted(set(snapshot.members(audience.segment))), missing
    assert audience.rule is not None
    cache: dict[str, set[str]] = {}

    def members(segment: str) -> set[str]:
        if segment not in cache:
            cache[segment] = set(snapshot.members(segment))
        return cache[segment]

    def evaluate(condition: Any) -> set[str]:
        if condition.segment is not None:
            return members(condition.segment)
        if condition.all:
            return set.intersection(*(evaluate(child) for child in condition.all))
        if condition.any:
            return set.union(*(evaluate(child) for child in condition.any))
        return set(snapshot.everyone()) - evaluate(condition.not_)

    return sorted(evaluate(audience.rule)), missing


def _capped_rate(campaign: Campaign, quota: SendQuota) -> int:
    """The campaign's send rate, capped by the SES account's maximum send rate for email."""
    if campaign.channel != "email":
        return campaign.send_rate_per_second
    return max(1, min(campaign.send_rate_per_second, int(quota.max_send_rate())))


def _chunks(members: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(members), CHUNK_SIZE):
        yield members[start : start + CHUNK_SIZE]


class _Bodies:
    """Queue bodies per variant: one validated request each, encoded once around the profile id's place."""

    PLACE = "\u0000profile\u0000"

    def __init__(self, campaign: Campaign, plan: RunPlan) -> None:
        requests = {
            variant.name: MessageRequest(
                profile_id="-",
                origin="campaign",
                origin_name=campaign.name,
                step=STEP,
                occurrence=plan.run_id,
                variant=variant.name,
                channel=campaign.channel,
                purpose=campaign.purpose,
                template=variant.template or campaign.template,
                priority=campaign.priority,
                expires_at=plan.expires_at,
                context=variant.context,
            )
            for variant in campaign.variants
        }
        self.message_key = next(iter(requests.values())).key()
        self.around: dict[str, tuple[str, str]] = {}
        for name, request in requests.items():
            body = {"request": {**request.model_dump(mode="json"), "profile_id": self.PLACE},
                    "rate_per_second": plan.rate_per_second}  # fmt: skip
            before, _, after = json.dumps(body).partition(json.dumps(self.PLACE))
            self.around[name] = (before, after)

    def messaged(self, assigned: list[tuple[str, str]]) -> list[str]:
        """The bodies of a chunk's messaged profiles (the holdout gets none). The profile id is encoded as
        `json.dumps` encodes a string, by the same function, without its per-call dispatch."""
        around = self.around
        return [
            around[group][0] + encode_basestring_ascii(profile_id) + around[group][1]
            for profile_id, group in assigned
            if group != HOLDOUT
        ]


def _assignment_rows(
    campaign: Campaign, plan: RunPlan, message_key: str, assigned: list[tuple[str, str]], at: datetime
) -> list[dict[str, Any]]:
    """The `messages` rows of a chunk: `holdout` for the control group, `assigned` (in its variant) for the others.
    One row per group is built, then copied with each profile's id."""
    templates = {variant.name: variant.template or campaign.template for variant in campaign.variants}
    rows_of: dict[str, dict[str, Any]] = {}
    for group in {group for _, group in assigned}:
        rows_of[group] = {
            "message_key": message_key, "profile_id": None, "origin": "campaign", "origin_name": campaign.name,
            "step": STEP, "variant": group, "occurrence": plan.run_id, "channel": campaign.channel,
            "purpose": campaign.purpose, "template": templates.get(group, campaign.template),
            "event": HOLDOUT if group == HOLDOUT else "assigned", "reason": group, "at": at,
            "provider_message_id": None,
        }  # fmt: skip
    rows = []
    for profile_id, group in assigned:
        row = rows_of[group].copy()
        row["profile_id"] = profile_id
        rows.append(row)
    return rows


def start_run(name: str, scheduled_at: datetime, parts: StartParts, now: datetime) -> RunSummary:
    """Queue the sends of the run scheduled at `scheduled_at` (see the module's note on retries)."""
    campaign = parts.campaigns.get(name)
    if campaign is None:
        raise NotFound(f"no campaign {name!r}")
    run_id = run_id_of(scheduled_at)
    if campaign.state != "active":
        return RunSummary(name, run_id, f"not_active:{campaign.state}")
    plan = parts.campaigns.begin_run(
        name,
        RunPlan(run_id, parts.snapshots.latest(), scheduled_at, now, scheduled_at + campaign.expires_after.length,
                _capped_rate(campaign, parts.quota)),
    )  # fmt: skip
    members, missing = resolve_audience(campaign.audience, parts.snapshots.audience(plan.snapshot))
    done = parts.campaigns.chunks_done(name, run_id)
    bodies = _Bodies(campaign, plan)
    summary = RunSummary(name, run_id, "enqueued", audience=len(members), missing_segments=missing)
    split = Split(name, campaign.holdout_percent, campaign.split())
    for index, chunk in enumerate(_chunks(members)):
        groups = split.groups(chunk)
        assigned = list(zip(chunk, groups, strict=True))
        summary.groups.update(groups)
        summary.chunks += 1
        if index in done:
            continue
        parts.events.record(_assignment_rows(campaign, plan, bodies.message_key, assigned, now))
        parts.queue.enqueue(bodies.messaged(assigned))
        parts.campaigns.mark_chunk(name, run_id, index, now)
        summary.chunks_queued += 1
    parts.campaigns.finish_run(
        name, run_id, {"audience": summary.audience, **summary.groups, "chunks": summary.chunks}, now
    )
    return summary
