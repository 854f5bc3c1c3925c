"""POST /v1/batch: Segment-compatible tracking calls from web and app, authorised by the source's write key."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.event_bus import publish
from cdp.adapters.event_ledger import EventLedger
from cdp.adapters.profile_store import ProfileStore
from cdp.observability import logger, metrics, observed_handler
from cdp.settings import CoreSettings, load_settings
from cdp.tracking.apply import apply_batch
from cdp.tracking.messages import MAX_BATCH_BYTES, TrackingBatch
from pydantic import ValidationError

app = APIGatewayHttpResolver()


def _error(status: HTTPStatus, message: str, **details: Any) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"success": False, "error": message, **details}),
    )


def _raw_body() -> bytes:
    event = app.current_event
    body = (event.body or "").encode() if not event.is_base64_encoded else base64.b64decode(event.body or "")
    if (event.headers.get("content-encoding") or "").lower() == "gzip":
        body = gzip.decompress(body)
    return body


@app.post("/v1/batch")
def post_batch() -> Response:
    try:
        body = _raw_body()
    except (OSError, EOFError, zlib.error, ValueError):
        return _error(HTTPStatus.BAD_REQUEST, "body is not valid gzip or base64")
    if len(body) > MAX_BATCH_BYTES:
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "batch larger than 500 KB")
    try:
        batch = TrackingBatch.model_validate_json(body)
    except ValidationError as error:
        return _error(
            HTTPStatus.BAD_REQUEST,
            "invalid batch",
            fields=[
                {"field": ".".join(map(str, detail["loc"])), "message": detail["msg"]} for detail in error.errors()
            ],
        )
    settings = load_settings(CoreSettings)
    source_id = app.current_event.request_context.authorizer.get_lambda["source_id"]
    result = apply_batch(
        batch,
        source_id,
        ProfileStore(settings.profiles_table, settings.ledger_table),
        EventLedger(settings.ledger_table),
        datetime.now(UTC),
        settings.backfill_horizon,
    )
    publish(settings.event_bus_name, result.outcome.events)
    metrics.add_metric(name="TrackingMessagesAccepted", unit="Count", value=result.accepted)
    logger.info(
        "batch applied",
        extra={"accepted": result.accepted, "duplicates": result.duplicates, "rejected": len(result.rejected)},
    )
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(
            {
                "success": not result.rejected,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
            }
        ),
    )


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
