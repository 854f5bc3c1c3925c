"""Scheduled: score, tag, predict and segment every profile; announce who entered and left which segment. A base
of the sharding threshold or more is planned here and computed by the sharded run's state machine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, metrics, observed_handler
from cdp.segments.sharded import run_segments


@observed_handler
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    as_of = datetime.now(UTC)  # not the tick's time: a retried or replayed run scores the table as it is now
    run_id = f"{as_of:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
    report = run_segments(wiring.segment_run_parts(), wiring.segment_sharding(), as_of, run_id)
    if "sharded" in report:
        logger.info("segment run sharded", extra=report)
        return report
    metrics.add_metric(name="ProfilesScored", unit="Count", value=report["profiles"] - report["not_profiled"])
    metrics.add_metric(name="ProfilesNotProfiled", unit="Count", value=report["not_profiled"])
    metrics.add_metric(name="SegmentsEntered", unit="Count", value=report["entered"])
    metrics.add_metric(name="SegmentsExited", unit="Count", value=report["exited"])
    metrics.add_metric(name="SegmentWriteConflicts", unit="Count", value=report["conflicts"])
    logger.info(
        "segments computed",
        extra={"scheduled_at": event.time.isoformat(), "run_id": run_id, "profiles": report["profiles"],
               "not_profiled": report["not_profiled"], "saved": report["profiles_saved"],
               "entered": report["entered"], "exited": report["exited"], "conflicts": report["conflicts"],
               "snapshot": report["snapshot"]},
    )  # fmt: skip
    return report
