"""Journey step: issue one coupon of an offer to the profile's person for one occasion (idempotent), only when one
of the messages that will carry it (`carriers`) can reach the person; answers the outcome (`status` issued / already_issued / refused, `reason`, `code`, `expires_at`) for the state machine's Choice."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.coupons.issue import issue_coupon
from cdp.coupons.offers import load_offers
from cdp.coupons.requests import CouponRequest
from cdp.errors import field_errors
from cdp.observability import metrics, observed_handler
from pydantic import ValidationError


@observed_handler
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        request = CouponRequest.model_validate(event)
    except ValidationError as error:
        return {"status": "refused", "reason": "invalid_request", "fields": field_errors(error.errors())}
    now = wiring.clock()
    carriers = [(carrier.channel, carrier.purpose) for carrier in request.carriers]
    reach = wiring.coupon_reach(carriers, now) if carriers else None
    outcome = issue_coupon(
        request.offer, request.profile_id, request.occasion_key, wiring.coupon_store(), load_offers(), now, reach=reach
    )
    metrics.add_dimension(name="offer", value=outcome.offer)
    metrics.add_metric(
        name="CouponsIssued" if outcome.status == "issued" else "CouponsNotIssued", unit="Count", value=1
    )
    return {
        "status": outcome.status,
        "reason": outcome.reason,
        "offer": outcome.offer,
        "code": outcome.code,
        "expires_at": outcome.expires_at.isoformat() if outcome.expires_at else None,
    }
