"""What campaigns need from storage and AWS: the campaign store, the membership snapshot, the send queue, the
schedules, the send-rate budget, the SES quota and the sending service (small Protocols; adapters implement them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cdp.campaigns.definition import Campaign, State

if TYPE_CHECKING:
    from cdp.messaging.requests import MessageRequest, SendOutcome

__all__ = ["Campaign", "State", "RunPlan"]  # the values the store and the schedules exchange with the domain


@dataclass(frozen=True)
class RunPlan:
    """What the first start of a run decided, kept so a retried start does the same."""

    run_id: str
    snapshot: str
    scheduled_at: datetime
    started_at: datetime
    expires_at: datetime
    rate_per_second: int

    def as_item(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "snapshot": self.snapshot, "scheduled_at": self.scheduled_at.isoformat(),
            "started_at": self.started_at.isoformat(), "expires_at": self.expires_at.isoformat(),
            "rate_per_second": self.rate_per_second,
        }  # fmt: skip

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RunPlan:
        return cls(
            run_id=str(item["run_id"]),
            snapshot=str(item["snapshot"]),
            scheduled_at=datetime.fromisoformat(str(item["scheduled_at"])),
            started_at=datetime.fromisoformat(str(item["started_at"])),
            expires_at=datetime.fromisoformat(str(item["expires_at"])),
            rate_per_second=int(item["rate_per_second"]),
        )


class CampaignStore(Protocol):
    def create(self, campaign: Campaign, at: datetime) -> None:
        """Store a new campaign; `Conflict` when the name is taken."""
        ...

    def get(self, name: str) -> Campaign | None: ...

    def page(self, limit: int, after: str | None) -> tuple[list[Campaign], str | None]:
        """Up to `limit` campaigns in name order after the one named `after`; and the name to continue after."""
        ...

    def set_state(self, name: str, state: State, allowed_from: Sequence[State], at: datetime) -> Campaign:
        """Move a campaign to `state` from one of `allowed_from`; `NotFound` or `Conflict` otherwise."""
        ...

    def begin_run(self, name: str, plan: RunPlan) -> RunPlan:
        """Store the run's plan unless one is stored; return the stored one (a retried start keeps the first)."""
        ...

    def run(self, name: str, run_id: str) -> dict[str, Any] | None: ...

    def runs(self, name: str) -> list[dict[str, Any]]: ...

    def chunks_done(self, name: str, run_id: str) -> set[int]: ...

    def mark_chunk(self, name: str, run_id: str, chunk: int, at: datetime) -> None: ...

    def finish_run(self, name: str, run_id: str, counts: Mapping[str, int], at: datetime) -> None:
        """Record that every chunk is enqueued, with the audience counts."""
        ...

    def add_outcomes(self, name: str, run_id: str, counts: Mapping[str, int]) -> None:
        """Add to the run's outcome counters (`<variant>:<status>` and `<variant>:skipped:<reason>`)."""
        ...


class CampaignStates(Protocol):
    def state(self, name: str) -> State | None: ...


class Snapshots(Protocol):
    def latest(self) -> str:
        """The key of the newest membership snapshot; `NotFound` when the segments never ran."""
        ...

    def audience(self, snapshot_key: str) -> Audiences: ...


class Audiences(Protocol):
    """One membership snapshot (the contract's AudienceSource, plus everyone in it for `not` rules)."""

    def members(self, segment: str) -> list[str]: ...

    def everyone(self) -> list[str]: ...

    def segments(self) -> set[str]: ...


class SendQueue(Protocol):
    def enqueue(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        """Queue message bodies (SQS batches of 10; entries a batch refuses are sent again, else it raises)."""
        ...


class Schedules(Protocol):
    def put(self, campaign: Campaign, shop_zone: str, enabled: bool) -> None: ...

    def delete(self, name: str) -> None: ...


class RateBudget(Protocol):
    def take(self, name: str, second: int, wanted: int, limit: int) -> int:
        """Take up to `wanted` of a campaign's `limit` sends in this epoch second; returns how many were granted."""
        ...


class SendQuota(Protocol):
    def max_send_rate(self) -> float:
        """The SES account's maximum sends per second."""
        ...


class Sending(Protocol):
    """The sending service as a campaign worker uses it, in-process."""

    def send(self, request: MessageRequest, now: datetime) -> SendOutcome: ...

    def defer(self, request: MessageRequest, until: datetime) -> None: ...
