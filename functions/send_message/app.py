"""Journey step (and any direct caller): send one MessageRequest through the sending service; returns its
SendOutcome (`status`, `reason`, `message_id`, `defer_until`, `wait_seconds` for a Step Functions Wait)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.messaging.requests import MessageRequest, SendOutcome
from cdp.messaging.service import send_message
from cdp.observability import logger, metrics, observed_handler


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = parse(event=event, model=MessageRequest)
    except ValidationError as error:  # a malformed request is answered, never retried
        problems = [f"{'.'.join(map(str, detail['loc']))}: {detail['msg']}" for detail in error.errors()]
        logger.warning("message request refused", extra={"problems": problems})
        metrics.add_metric(name="MessageRequestsRefused", unit="Count", value=1)
        return SendOutcome(status="failed", reason="invalid_request").model_dump(mode="json") | {"problems": problems}
    outcome = send_message(request, wiring.sending_parts(), wiring.clock())
    metrics.add_dimension(name="channel", value=request.channel)
    metrics.add_metric(name=f"Messages{outcome.status.capitalize()}", unit="Count", value=1)
    return outcome.model_dump(mode="json")
