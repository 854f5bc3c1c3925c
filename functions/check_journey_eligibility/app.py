"""Journey step: may this profile receive this step's message now? Records the reason when it may not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.journey_messages import JourneyMessages
from cdp.adapters.profile_store import ProfileStore
from cdp.journeys.eligibility import EligibilityRequest, decide
from cdp.observability import metrics, observed_handler
from cdp.settings import CoreSettings, load_settings


@observed_handler
@event_parser(model=EligibilityRequest)
def handler(request: EligibilityRequest, context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(CoreSettings)
    now = datetime.now(UTC)
    messages = JourneyMessages(settings.profiles_table)
    profile = ProfileStore(settings.profiles_table, settings.ledger_table).get_profile(request.profile_id)
    decision = decide(request, profile, messages.get(request.profile_id, request.journey, request.step), now)
    if not decision.eligible and decision.reason != "already_sent":
        messages.record_suppressed(
            request.profile_id,
            request.journey,
            request.step,
            request.channel,
            decision.reason,
            request.execution_id,
            now,
        )
    metrics.add_dimension(name="journey", value=request.journey)
    metrics.add_metric(name="EligibleSteps" if decision.eligible else "SuppressedSteps", unit="Count", value=1)
    return {"eligible": decision.eligible, "reason": decision.reason, "wait_seconds": decision.wait_seconds}
