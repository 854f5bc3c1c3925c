"""Scheduled: recompute RFM segments and lifecycle stages for every profile; emit who entered and left."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.event_bus import publish
from cdp.adapters.segment_store import SegmentStore
from cdp.observability import logger, metrics, observed_handler
from cdp.segments.compute import compute_segments
from cdp.settings import CoreSettings, load_settings


@observed_handler
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(CoreSettings)
    as_of = datetime.now(UTC)
    run = compute_segments(SegmentStore(settings.profiles_table), as_of)
    publish(settings.event_bus_name, run.events)
    metrics.add_metric(name="SegmentTransitions", unit="Count", value=len(run.events))
    logger.info("segments computed", extra={"profiles": run.profiles, "entered": len(run.entered)})
    return {"as_of": as_of.isoformat(), "profiles": run.profiles, "segments": run.sizes,
            "entered": len(run.entered), "exited": len(run.exited)}  # fmt: skip
