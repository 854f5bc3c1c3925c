"""Journey step: may this profile receive this step's message now? Records the reason when it may not."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.journeys.eligibility import EligibilityRequest
from cdp.journeys.send import check_step
from cdp.observability import metrics, observed_handler


@observed_handler
@event_parser(model=EligibilityRequest)
def handler(request: EligibilityRequest, context: LambdaContext) -> dict[str, Any]:
    read_profile = partial(wiring.privacy_store().profile_consistently, follow_redirects=True)
    decision = check_step(request, read_profile, wiring.journey_messages(), datetime.now(UTC))
    metrics.add_dimension(name="journey", value=request.journey)
    metrics.add_metric(name="EligibleSteps" if decision.eligible else "SuppressedSteps", unit="Count", value=1)
    return {"eligible": decision.eligible, "reason": decision.reason, "wait_seconds": decision.wait_seconds}
