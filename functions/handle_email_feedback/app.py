"""SQS consumer of SES feedback (SES event publishing -> SNS -> SQS): each SNS notification's SES event applied to
the send record, the suppression list and `messages` rows. A record that is no SNS notification of an SES event,
or whose application fails, is reported in `batchItemFailures`: delivered again, then kept in the dead-letter queue."""


from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SnsNotificationModel, SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.messaging.feedback import SesEvent, apply_email_feedback
from cdp.observability import metrics, observed_handler
from pydantic import Json


class FeedbackNotification(SqsRecordModel):
    body: Json[SnsNotificationModel]  # type: ignore[assignment]


processor = BatchProcessor(event_type=EventType.SQS, model=FeedbackNotification)


def apply_notification(record: FeedbackNotification) -> None:
    event = SesEvent.model_validate_json(str(record.body.Message))
    outcome = apply_email_feedback(event, wiring.feedback_parts())
    metrics.add_metric(name="EmailFeedbackEvents", unit="Count", value=1)
    if outcome.applied and outcome.event:
        metrics.add_metric(name=f"Email{outcome.event.capitalize()}", unit="Count", value=1)  # EmailDelivered...
    if outcome.suppressed:
        metrics.add_metric(name="AddressesSuppressed", unit="Count", value=outcome.suppressed)
    if outcome.untracked:
        metrics.add_metric(name="EmailFeedbackUntracked", unit="Count", value=1)


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=apply_notification, processor=processor, context=context)
