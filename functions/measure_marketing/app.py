"""Scheduled: compute the marketing report (attribution, uplift, KPIs) from the curated Parquet and the segment
snapshots, and store it as JSON and as a self-contained HTML page in the curated bucket under `reports/`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.measure.html import render
from cdp.measure.report import measure_marketing
from cdp.measure.rules import load_rules
from cdp.observability import logger, metrics, observed_handler


@observed_handler
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    report = measure_marketing(wiring.measurement_parts(), load_rules(), now)
    keys = wiring.report_store().save(report, render(report), now)
    metrics.add_metric(name="AttributedOrders", unit="Count", value=report["attributed_orders"])
    logger.info("marketing report written", extra={"scheduled_at": event.time.isoformat(), **keys,
                                                   "orders": report["orders"], "attributed": report["attributed_orders"]})  # fmt: skip
    return {"computed_at": report["computed_at"], **keys}
