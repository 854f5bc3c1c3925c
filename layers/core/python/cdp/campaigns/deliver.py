"""The campaign worker's use case: send each queued message through the sending service, at the run's rate, unless
the campaign is paused (held: queued again, later) or cancelled (skipped), and count the outcomes per variant.

A worker reads a campaign's state through `StateCache` (at most `max_age` old), so a pause stops sending within
seconds. The send rate is a per-second budget shared by every worker of the campaign (`RateBudget`), taken a few
sends at a time. A raised error fails only that message: SQS delivers it again (up to the queue's maxReceiveCount,
then its dead-letter queue), and the sending service's exactly-once key makes a second delivery `already_sent`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from cdp.campaigns.definition import State
from cdp.campaigns.ports import CampaignStates, CampaignStore, RateBudget, Sending, SendQueue
from cdp.errors import Unavailable
from cdp.messaging.ports import DeferredMessages
from cdp.messaging.requests import MessageRequest, SendOutcome
from cdp.messaging.service import SendingParts, send_message

PACE_BLOCK = 10  # sends a worker takes from the second's budget at once
MAX_PACE_WAIT = timedelta(seconds=20)  # then the message fails and comes back later


class QueuedSend(BaseModel):
    """One queued message: the request and the run's send rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: MessageRequest
    rate_per_second: int = Field(ge=1)


@dataclass
class StateCache:
    """Campaign states read through to the store at most every `max_age`."""

    store: CampaignStates
    max_age: timedelta = timedelta(seconds=3)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _read: dict[str, tuple[datetime, State | None]] = field(default_factory=dict)

    def state(self, name: str) -> State | None:
        now = self.clock()
        cached = self._read.get(name)
        if cached is None or now - cached[0] >= self.max_age:
            cached = (now, self.store.state(name))
            self._read[name] = cached
        return cached[1]


@dataclass(frozen=True)
class ServiceSending:
    """The sending service in-process (the `Sending` port): its use case over its parts, and its deferral store."""

    parts: SendingParts
    deferred: DeferredMessages

    def send(self, request: MessageRequest, now: datetime) -> SendOutcome:
        return send_message(request, self.parts, now)

    def defer(self, request: MessageRequest, until: datetime) -> None:
        self.deferred.defer(request, until)


@dataclass(frozen=True)
class WorkerParts:
    states: CampaignStates
    sending: Sending
    queue: SendQueue
    budget: RateBudget
    campaigns: CampaignStore
    hold_seconds: int  # a paused campaign's message comes back after this long
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep


class CampaignWorker:
    """One invocation's sends: `deliver` each message, then `flush` the outcome counters to the runs."""

    def __init__(self, parts: WorkerParts) -> None:
        self.parts = parts
        self.outcomes: dict[tuple[str, str], Counter[str]] = {}
        self._allowance: dict[str, tuple[int, int]] = {}  # campaign: (epoch second, sends left in it)

    def deliver(self, queued: QueuedSend) -> str:
        """Send one queued message; returns what became of it (sent, skipped, deferred, failed, held)."""
        request = queued.request
        state = self.parts.states.state(request.origin_name)
        if state == "paused":
            self.parts.queue.enqueue([queued.model_dump_json()], delay_seconds=self.parts.hold_seconds)
            return "held"
        counts = self.outcomes.setdefault((request.origin_name, request.occurrence), Counter())
        if state != "active":
            counts[f"{request.variant}:skipped:campaign_{state or 'deleted'}"] += 1
            return "skipped"
        self._pace(request.origin_name, queued.rate_per_second)
        outcome = self.parts.sending.send(request, self.parts.clock())
        if outcome.status == "deferred" and outcome.defer_until is not None:
            self.parts.sending.defer(request, outcome.defer_until)
        detail = f":{outcome.reason}" if outcome.status in ("skipped", "failed") else ""
        counts[f"{request.variant}:{outcome.status}{detail}"] += 1
        return outcome.status

    def _pace(self, campaign: str, rate: int) -> None:
        """Wait for a send of the campaign's per-second budget."""
        waited_until = self.parts.clock() + MAX_PACE_WAIT
        while True:
            now = self.parts.clock()
            second = int(now.timestamp())
            held_second, left = self._allowance.get(campaign, (0, 0))
            if held_second == second and left > 0:
                self._allowance[campaign] = (second, left - 1)
                return
            granted = self.parts.budget.take(campaign, second, min(rate, PACE_BLOCK), rate)
            if granted:
                self._allowance[campaign] = (second, granted - 1)
                return
            if now >= waited_until:
                raise Unavailable(f"campaign {campaign}: no send budget for {MAX_PACE_WAIT.seconds}s")
            self.parts.sleep(second + 1 - now.timestamp())

    def flush(self) -> None:
        """Add this invocation's outcomes to each run's counters (one write per run)."""
        for (campaign, run_id), counts in self.outcomes.items():
            if counts:
                self.parts.campaigns.add_outcomes(campaign, run_id, counts)
        self.outcomes.clear()
