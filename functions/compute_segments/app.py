"""Scheduled: score, tag, predict and segment every profile; announce who entered and left which segment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, metrics, observed_handler
from cdp.segments.compute import compute_segments


@observed_handler
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    as_of = datetime.now(UTC)  # not the tick's time: a retried or replayed run scores the table as it is now
    run_id = f"{as_of:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
    run = compute_segments(wiring.segment_run_parts(), as_of, run_id)
    metrics.add_metric(name="ProfilesScored", unit="Count", value=run.profiles - run.not_profiled)
    metrics.add_metric(name="ProfilesNotProfiled", unit="Count", value=run.not_profiled)
    metrics.add_metric(name="SegmentsEntered", unit="Count", value=len(run.entered))
    metrics.add_metric(name="SegmentsExited", unit="Count", value=len(run.exited))
    metrics.add_metric(name="SegmentWriteConflicts", unit="Count", value=run.conflicts)
    logger.info(
        "segments computed",
        extra={"scheduled_at": event.time.isoformat(), "run_id": run_id, "profiles": run.profiles,
               "not_profiled": run.not_profiled, "saved": run.profiles_saved, "entered": len(run.entered),
               "exited": len(run.exited), "conflicts": run.conflicts, "snapshot": run.snapshot_key},
    )  # fmt: skip
    return run.report()
