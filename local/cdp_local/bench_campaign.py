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
from cdp.campaigns.deliver import CampaignWorker, QueuedSend, ServiceSending, StateCache, WorkerParts
from cdp.campaigns.ports import RunPlan
from cdp.campaigns.run import StartParts, start_run

CUSTOMERS = 1_000_000
WORKER_MESSAGES = 2_000  # the in-memory send records scan every record per cap check: keep it small
SEGMENT = "rfm:Champions"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CAMPAIGN = {
    "name": "bench_sale", "audience": {"segment": SEGMENT}, "template": "member_day", "channel": "email",
    "schedule": {"cron": "0 10 ? * MON *"}, "holdout_percent": 10, "send_rate_per_second": 10_000,
    "variants": [{"name": "a", "percent": 50, "context": {"offer": "2x points"}},
                 {"name": "b", "percent": 50, "template": "campaign_generic",
                  "context": {"headline": "Member day", "body": "Double points all day."}}],
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


def _sending(profile_ids: list[str]) -> ServiceSending:
    """The sending service with the unit tests' in-memory ports: every rule runs (consent, suppression, cap, quiet
    hours, exactly-once claim, rendering), nothing leaves the process. Noon in London: no quiet hours."""
    from tests.fakes import FakeDeferredMessages, fake_sending_parts  # the bench runs from the repository root

    consent = {"email:marketing": {"granted": True, "recorded_at": "2026-01-01T00:00:00+00:00"}}
    profiles = {profile_id: {"profile_id": profile_id, "email": f"{profile_id}@example.com", "first_name": "Ann",
                             "timezone": "Europe/London", "language": "en", "consent": consent}
                for profile_id in profile_ids}  # fmt: skip
    return ServiceSending(fake_sending_parts(profiles), FakeDeferredMessages())


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
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = start_run(campaign.name, NOW, StartParts(store, _Snapshot(body), queue, rows, _Quota()), NOW)  # type: ignore[arg-type]
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    sample = [QueuedSend.model_validate_json(queued_body) for queued_body in queue.kept]
    sending = _sending([queued.request.profile_id for queued in sample])
    worker = CampaignWorker(WorkerParts(StateCache(store, timedelta(seconds=3)), sending, queue, store, store, 60, lambda: NOON))  # type: ignore[arg-type]
    results: Counter[str] = Counter()
    started, cpu_started = time.perf_counter(), time.process_time()
    for queued_body in queue.kept:
        results[worker.deliver(QueuedSend.model_validate_json(queued_body))] += 1
    worker.flush()
    per_message_ms = (time.perf_counter() - started) * 1000 / len(queue.kept)
    per_message_cpu_ms = (time.process_time() - cpu_started) * 1000 / len(queue.kept)
    return {
        "customers": customers,
        "seconds": round(seconds, 2),
        "per_message_ms": round(per_message_ms, 4),
        "cpu_seconds": round(cpu_seconds, 2),
        "per_message_cpu_ms": round(per_message_cpu_ms, 4),
        "audience": summary.audience,
        "groups": dict(summary.groups),
        "sqs_batches_counted": queue.batches,
        "messages_rows_counted": rows.rows,
        "chunks": summary.chunks,
        "worker_sample": dict(results),
        "note": "compute only: Parquet read, audience, assignment, bodies; SQS and Firehose calls counted, not made. "
        "per_message_ms: the worker's path (parse, state, budget, outcome count) and every sending rule, with the "
        "sending service's in-memory ports. seconds and per_message_ms are wall time; the cpu_ figures are this "
        "process's CPU time (time.process_time), steadier on a shared machine",
    }
