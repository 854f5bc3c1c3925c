"""Every minute (EventBridge schedule): send the deferred campaign messages that are due."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.messaging.sweep import send_due_messages
from cdp.observability import metrics, observed_handler

MESSAGES_PER_SWEEP = 500  # well within the function's timeout at SES's default send rate


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    outcomes = send_due_messages(wiring.sending_parts(), wiring.deferred_messages(), wiring.clock(), MESSAGES_PER_SWEEP)
    for status, count in outcomes.items():
        metrics.add_metric(name=f"DeferredMessages{status.capitalize()}", unit="Count", value=count)
    return dict(outcomes)
