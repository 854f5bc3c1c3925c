"""Journey step: send one email or SMS exactly once and record it."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.journeys.send import SendRequest, send_step_message
from cdp.observability import metrics, observed_handler


@observed_handler
@event_parser(model=SendRequest)
def handler(request: SendRequest, context: LambdaContext) -> dict[str, Any]:
    read_profile = partial(wiring.privacy_store().profile_consistently, follow_redirects=True)
    result = send_step_message(
        request,
        read_profile,
        wiring.journey_messages(),
        wiring.message_sender(),
        wiring.messaging_settings(),
        datetime.now(UTC),
    )
    metrics.add_dimension(name="channel", value=request.channel)
    metrics.add_metric(name="MessagesSent" if result["status"] == "sent" else "MessagesNotSent", unit="Count", value=1)
    return result
