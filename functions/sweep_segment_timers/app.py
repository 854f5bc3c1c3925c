"""Every minute: fire the live segments' timers due up to now (missed minutes caught up), announcing who entered and
left which segment at that minute."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, metrics, observed_handler
from cdp.segments.timers import sweep


@observed_handler
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    now = event.time.astimezone(UTC)  # the tick's minute: a late tick decides as of the minute it stands for
    result = sweep(wiring.live_segment_store(), wiring.live_segments().on_timer, now, wiring.publisher())
    metrics.add_metric(name="SegmentTimersDue", unit="Count", value=result.timers)
    metrics.add_metric(name="SegmentsEnteredByTimer", unit="Count", value=result.entered)
    metrics.add_metric(name="SegmentsExitedByTimer", unit="Count", value=result.exited)
    logger.info(
        "segment timers swept",
        extra={"as_of": now.isoformat(), "buckets": len(result.buckets), "timers": result.timers,
               "entered": result.entered, "exited": result.exited, "dropped": result.dropped},
    )  # fmt: skip
    return {"buckets": result.buckets, "timers": result.timers, "entered": result.entered, "exited": result.exited,
            "dropped": result.dropped}  # fmt: skip
