"""The `campaign` bench figure: a campaign to 1M generated customers, compute only.

Seconds to start the run: read the membership snapshot's Parquet, resolve the audience, assign holdout and
variants, build every queued message and its assignment row, in chunks with their markers; the SQS batches and the
stream rows are counted, not sent (in-memory ports). Then milliseconds per message through the worker: parse the
queued body, check the campaign's state (cached), take the send budget, and send through the sending service with
in-memory ports (every rule checked, nothing delivered).
"""

from __future__ import annotations

import io
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from cdp.adapters.snapshot_audience import SnapshotAudience
from cdp.campaigns.definition import Campaign, State, parse_campaign
from cdp.campaigns.deliver import CampaignWorker, QueuedSend, StateCache, WorkerParts
from cdp.campaigns.run import RunPlan, StartParts, start_run
from cdp.messaging.requests import MessageRequest, SendOutcome

CUSTOMERS = 1_000_000
WORKER_MESSAGES = 20_000
SEGMENT = "rfm:Champions"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
CAMPAIGN = {
    "name": "bench_sale", "audience": {"segment": SEGMENT}, "template": "spring_sale", "channel": "email",
    "schedule": {"cron": "0 10 ? * MON *"}, "holdout_percent": 10, "send_rate_per_second": 10_000,
    "variants": [{"name": "a", "percent": 50}, {"name": "b", "percent": 50, "template": "spring_sale_b"}],
}  # fmt: skip


class _MemoryCampaigns:
    """The campaign store, run records and send budget in memory (cdp.campaigns.ports.CampaignStore, RateBudget)."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.plans: dict[str, RunPlan] = {}
        self.chunks: set[int] = set()
        self.outcomes: Counter[str] = Counter()

    def get(self, name: str) -> Campaign | None:
        return self.campaign

    def state(self, name: str) -> State | None:
        return self.campaign.state

    def begin_run(self, name: str, plan: RunPlan) -> RunPlan:
        return self.plans.setdefault(plan.run_id, plan)

    def chunks_done(self, name: str, run_id: str) -> set[int]:
        return set(self.chunks)

    def mark_chunk(self, name: str, run_id: str, chunk: int, at: datetime) -> None:
        self.chunks.add(chunk)

    def finish_run(self, name: str, run_id: str, counts: Any, at: datetime) -> None:
        pass

    def add_outcomes(self, name: str, run_id: str, counts: Any) -> None:
        self.outcomes.update(counts)

    def take(self, name: str, second: int, wanted: int, limit: int) -> int:
        return wanted


class _CountedQueue:
    """SendMessageBatch calls counted (10 bodies each), bodies kept only for the worker's sample."""

    def __init__(self, keep: int) -> None:
        self.batches = 0
        self.messages = 0
        self.kept: list[str] = []
        self.keep = keep

    def enqueue(self, bodies: Any, delay_seconds: int = 0) -> None:
        self.batches += -(-len(bodies) // 10)
        self.messages += len(bodies)
        self.kept += list(bodies[: max(0, self.keep - len(self.kept))])


class _CountedRows:
    def __init__(self) -> None:
        self.rows = 0

    def record(self, rows: list[dict[str, Any]]) -> None:
        self.rows += len(rows)


class _Snapshot:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def latest(self) -> str:
        return "segment_memberships/dt=2026-12-03/run=bench/part-0.parquet"

    def audience(self, snapshot_key: str) -> SnapshotAudience:
        return SnapshotAudience.from_parquet(self.body)


class _Quota:
    def max_send_rate(self) -> float:
        return 10_000.0


class _Sending:
    """The sending service's answer for an eligible customer, without its storage (see `per_message_ms`)."""

    def send(self, request: MessageRequest, now: datetime) -> SendOutcome:
        return SendOutcome(status="sent", reason="sent", message_id=request.key())

    def defer(self, request: MessageRequest, until: datetime) -> None:
        pass


def snapshot_parquet(customers: int) -> bytes:
    """Memberships of `customers` generated profiles: all in the campaign's segment, a fifth in another."""
    ids = pa.array([f"{number:032x}" for number in range(customers)])
    segments = pa.concat_arrays([pa.array([SEGMENT] * customers), pa.array(["lifecycle:active"] * (customers // 5))])
    table = pa.table({"segment": segments, "profile_id": pa.concat_arrays([ids, ids.slice(0, customers // 5)])})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def campaign_figure(customers: int = CUSTOMERS) -> dict[str, Any]:
    campaign = parse_campaign(CAMPAIGN)
    store, queue, rows = _MemoryCampaigns(campaign), _CountedQueue(WORKER_MESSAGES), _CountedRows()
    body = snapshot_parquet(customers)
    started = time.perf_counter()
    summary = start_run(campaign.name, NOW, StartParts(store, _Snapshot(body), queue, rows, _Quota()), NOW)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    worker = CampaignWorker(WorkerParts(StateCache(store, timedelta(seconds=3)), _Sending(), queue, store, store, 60))  # type: ignore[arg-type]
    started = time.perf_counter()
    for queued in queue.kept:
        worker.deliver(QueuedSend.model_validate_json(queued))
    worker.flush()
    per_message_ms = (time.perf_counter() - started) * 1000 / len(queue.kept)
    return {
        "customers": customers,
        "seconds": round(seconds, 2),
        "per_message_ms": round(per_message_ms, 4),
        "audience": summary.audience,
        "groups": dict(summary.groups),
        "sqs_batches_counted": queue.batches,
        "messages_rows_counted": rows.rows,
        "chunks": summary.chunks,
        "note": "compute only: Parquet read, audience, assignment, bodies; SQS and Firehose calls counted, not made. "
        "per_message_ms: the worker's path (parse, state, budget, outcome count) around an in-memory send",
    }
