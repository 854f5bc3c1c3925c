"""SQS consumer: applies each queued batch of curated rows to profiles, reporting the batches that failed.

A message that is not a valid `CuratedBatch`, or whose application fails, is reported in `batchItemFailures`: SQS
delivers it again, and after the queue's maxReceiveCount it moves to the dead-letter queue with its body intact.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.ingest.queued_batches import CuratedBatch, apply_curated_batch
from cdp.observability import logger, metrics, observed_handler
from pydantic import Json


class CuratedBatchMessage(SqsRecordModel):
    body: Json[CuratedBatch]  # type: ignore[assignment]


processor = BatchProcessor(event_type=EventType.SQS, model=CuratedBatchMessage)


def apply_message(record: CuratedBatchMessage) -> None:
    batch = record.body
    outcome, erased = apply_curated_batch(wiring.curated_batch_ports(), batch, wiring.core().backfill_horizon)
    metrics.add_metric(name="ProfilesCreated", unit="Count", value=outcome.created)
    metrics.add_metric(name="ProfilesUpdated", unit="Count", value=outcome.updated)
    metrics.add_metric(name="RecordsApplied", unit="Count", value=outcome.records_applied)
    logger.info(
        "batch applied to profiles",
        extra={
            "file_id": batch.file_id,
            "batch": batch.batch,
            "entity": batch.entity,
            "profiles_created": outcome.created,
            "profiles_updated": outcome.updated,
            "records_applied": outcome.records_applied,
            "guest_records": outcome.guest_records,
            "erased_since_curated": erased,
        },
    )


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=apply_message, processor=processor, context=context)
