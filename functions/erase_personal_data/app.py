"""`Erasure Requested` (EventBridge): remove the erased person's rows from raw, curated and quarantine objects and
their data-request exports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.privacy_store import PrivacyStore
from cdp.observability import logger, observed_handler
from cdp.privacy.erase_objects import erase_objects
from cdp.privacy.erasure import ErasureBuckets, current_salt
from cdp.privacy.requests import ErasureRequestedEvent
from cdp.settings import load_settings


@observed_handler
@event_parser(model=ErasureRequestedEvent)
def handler(event: ErasureRequestedEvent, context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(ErasureBuckets)
    store = PrivacyStore(settings.profiles_table, settings.ledger_table)
    erasure = store.get_erasure(event.detail.erasure_id)
    if erasure is None:
        raise ValueError(f"no erasure {event.detail.erasure_id}")
    result = erase_objects(
        current_salt(),
        erasure["identifier_digests"],
        settings.raw_bucket,
        settings.curated_bucket,
        settings.quarantine_bucket,
        settings.exports_bucket,
        settings.default_phone_region,
    )
    store.update_erasure(
        event.detail.erasure_id, {"status": "completed", "completed_at": datetime.now(UTC).isoformat(), "objects": result.as_dict()}
    )
    logger.info("erasure completed", extra={"erasure_id": event.detail.erasure_id, **result.as_dict()})
    return {"erasure_id": event.detail.erasure_id, **result.as_dict()}
