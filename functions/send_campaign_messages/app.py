"""SQS consumer: sends each queued campaign message through the sending service, reporting the ones that failed.

A message that is not a valid `QueuedSend`, or whose send raised, is reported in `batchItemFailures`: SQS delivers
it again, and after the queue's maxReceiveCount it moves to the dead-letter queue with its body intact.
"""


from collections import Counter
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.campaigns.deliver import CampaignWorker, QueuedSend
from cdp.observability import logger, metrics, observed_handler
from pydantic import Json


class QueuedSendMessage(SqsRecordModel):
    body: Json[QueuedSend]  # type: ignore[assignment]


processor = BatchProcessor(event_type=EventType.SQS, model=QueuedSendMessage)


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    worker = CampaignWorker(wiring.campaign_worker_parts())
    results: Counter[str] = Counter()

    def deliver(record: QueuedSendMessage) -> None:
        results[worker.deliver(record.body)] += 1

    try:
        return process_partial_response(event=event, record_handler=deliver, processor=processor, context=context)
    finally:
        worker.flush()
        for result, count in results.items():
            metrics.add_metric(name=f"CampaignMessages{result.capitalize()}", unit="Count", value=count)
        logger.info("campaign messages delivered", extra={"results": dict(results)})
