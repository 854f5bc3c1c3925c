"""Journey step: may this profile receive this step's message now? Records the reason when it may not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.journey_messages import JourneyMessages
from cdp.adapters.privacy_store import PrivacyStore
from cdp.journeys.eligibility import EligibilityRequest
from cdp.journeys.send import check_step
from cdp.observability import metrics, observed_handler
from cdp.settings import CoreSettings, load_settings


@observed_handler
@event_parser(model=EligibilityRequest)
def handler(request: EligibilityRequest, context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(CoreSettings)
    now = datetime.now(UTC)
    store = PrivacyStore(settings.profiles_table, settings.ledger_table)
    profile = store.profile_consistently(request.profile_id, follow_redirects=True)
    decision = check_step(request, profile, JourneyMessages(settings.profiles_table), now)
    metrics.add_dimension(name="journey", value=request.journey)
    metrics.add_metric(name="EligibleSteps" if decision.eligible else "SuppressedSteps", unit="Count", value=1)
    return {"eligible": decision.eligible, "reason": decision.reason, "wait_seconds": decision.wait_seconds}
