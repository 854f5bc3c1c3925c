"""CloudWatch Logs subscription of SNS SMS delivery status logs (`sns/<region>/<account>/DirectPublishToPhoneNumber`
and its `/Failure` group): each log event applied to the send record, the suppression list and `messages` rows. A
log event that is no SMS delivery status (malformed, hostile, a control message) is skipped and counted, never
retried: the subscription delivers asynchronously, and a retry would bring the same bytes again."""

from typing import Any

from aws_lambda_powertools.utilities.parser.models import CloudWatchLogsModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.messaging.sms_feedback import SmsDeliveryStatus, apply_sms_delivery_status
from cdp.observability import logger, metrics, observed_handler
from pydantic import ValidationError

DATA_MESSAGE = "DATA_MESSAGE"  # CloudWatch Logs also sends CONTROL_MESSAGE when it checks the destination


def _skipped(count: int, why: str) -> None:
    metrics.add_metric(name="SmsDeliveryLogsSkipped", unit="Count", value=count)
    logger.warning("SMS delivery log events skipped", extra={"skipped": count, "why": why})


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    try:
        batch = CloudWatchLogsModel.model_validate(event).awslogs.decoded_data
    except ValidationError as error:
        _skipped(1, f"not a CloudWatch Logs subscription payload: {error.error_count()} errors")
        return {"applied": 0, "skipped": 1}
    if batch.messageType != DATA_MESSAGE:
        return {"applied": 0, "skipped": 0}
    parts = wiring.feedback_parts()
    applied = skipped = 0
    for log_event in batch.logEvents:
        try:
            status = SmsDeliveryStatus.model_validate_json(str(log_event.message))
        except ValidationError as error:
            skipped += 1
            logger.warning("not an SMS delivery status", extra={"log_event_id": log_event.id, "errors": error.error_count()})
            continue
        outcome = apply_sms_delivery_status(status, parts)
        applied += outcome.applied
        metrics.add_metric(name="SmsDelivered" if status.status == "SUCCESS" else "SmsFailed", unit="Count", value=1)
        if outcome.suppressed:
            metrics.add_metric(name="AddressesSuppressed", unit="Count", value=outcome.suppressed)
        if outcome.untracked:
            metrics.add_metric(name="SmsFeedbackUntracked", unit="Count", value=1)
    if skipped:
        _skipped(skipped, "log events that are no SMS delivery status")
    return {"applied": applied, "skipped": skipped}
