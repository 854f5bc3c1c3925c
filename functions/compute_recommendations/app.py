"""Scheduled: recommend products to every customer from the curated orders and save each list on their profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, metrics, observed_handler
from cdp.recommendations import compute_recommendations


@observed_handler
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    computed_at = datetime.now(UTC)
    history = wiring.order_history()
    run = compute_recommendations(history, wiring.recommendation_store(computed_at))
    metrics.add_metric(name="CustomersRecommended", unit="Count", value=run.customers)
    logger.info(
        "recommendations computed",
        extra={"scheduled_at": event.time.isoformat(), "lines": run.lines, "customers": run.customers,
               "saved": run.saved, "unchanged": run.unchanged, "skipped_objects": history.skipped_objects},
    )  # fmt: skip
    return {"computed_at": computed_at.isoformat(), "lines": run.lines, "customers": run.customers, "saved": run.saved,
            "unchanged": run.unchanged}
