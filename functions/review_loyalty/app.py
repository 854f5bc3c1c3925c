"""Scheduled: decide every member's loyalty tier and balance as of now; announce tier changes and expiring points."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.loyalty.review import review_loyalty
from cdp.loyalty.rules import load_rules
from cdp.observability import logger, metrics, observed_handler


@observed_handler
@event_parser(model=EventBridgeModel)
def handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    as_of = datetime.now(UTC)  # not the tick's time: a retried run decides as of when it runs
    review = review_loyalty(wiring.loyalty_store(), load_rules(), as_of, wiring.publisher())
    metrics.add_metric(name="LoyaltyMembers", unit="Count", value=review.members)
    metrics.add_metric(name="TierChanges", unit="Count", value=review.tier_changes)
    metrics.add_metric(name="PointsExpiringNotices", unit="Count", value=review.expiry_notices)
    logger.info(
        "loyalty reviewed",
        extra={"scheduled_at": event.time.isoformat(), "members": review.members, "saved": review.saved,
               "tier_changes": review.tier_changes, "expiry_notices": review.expiry_notices},
    )  # fmt: skip
    return {
        "as_of": as_of.isoformat(),
        "members": review.members,
        "tiers": dict(sorted(review.tiers.items())),
        "points": review.points,
        "points_expiring": review.points_expiring,
        "tier_changes": review.tier_changes,
        "expiry_notices": review.expiry_notices,
    }
