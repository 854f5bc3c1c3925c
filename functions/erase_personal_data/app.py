"""`Erasure Requested` (EventBridge): remove the erased person's rows from raw, curated and quarantine objects and
their data-request exports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, observed_handler
from cdp.privacy.erase_objects import ErasedBuckets, complete_erasure
from cdp.privacy.requests import ErasureRequestedEvent


@observed_handler
@event_parser(model=ErasureRequestedEvent)
def handler(event: ErasureRequestedEvent, context: LambdaContext) -> dict[str, Any]:
    settings = wiring.erasure_buckets()
    buckets = ErasedBuckets(settings.raw_bucket, settings.curated_bucket, settings.quarantine_bucket, settings.exports_bucket)
    erasure_id = event.detail.erasure_id
    result = complete_erasure(
        wiring.privacy_store(),
        wiring.objects(),
        wiring.erasure_salt(),
        erasure_id,
        buckets,
        datetime.now(UTC),
        settings.default_phone_region,
    )
    logger.info("erasure completed", extra={"erasure_id": erasure_id, **result.as_dict()})
    return {"erasure_id": erasure_id, **result.as_dict()}
