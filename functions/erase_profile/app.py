"""DELETE /v1/profiles/{id} erases a person (DynamoDB now, S3 asynchronously); GET /v1/erasures/{id} tells how far."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.event_bus import DomainEvent, publish
from cdp.adapters.privacy_store import PrivacyStore
from cdp.observability import logger, metrics, observed_handler
from cdp.privacy.erasure import (
    ERASURE_REQUESTED,
    PRIVACY_EVENTS_SOURCE,
    PrivacySettings,
    current_salt,
    erase_profile,
    erasure_status,
)
from cdp.privacy.requests import ID_PATTERN, json_response
from cdp.settings import load_settings

app = APIGatewayHttpResolver()


def _store() -> PrivacyStore:
    settings = load_settings(PrivacySettings)
    return PrivacyStore(settings.profiles_table, settings.ledger_table)


@app.delete("/v1/profiles/<profile_id>")
def delete_profile(profile_id: str) -> Response:
    if not ID_PATTERN.match(profile_id):
        return json_response(HTTPStatus.BAD_REQUEST, {"error": "malformed profile id"})
    erasure = erase_profile(_store(), profile_id, current_salt(), datetime.now(UTC))
    if erasure is None:
        return json_response(HTTPStatus.NOT_FOUND, {"error": "no such profile"})
    detail = {"erasure_id": erasure["erasure_id"]}
    publish(load_settings(PrivacySettings).event_bus_name, [DomainEvent(PRIVACY_EVENTS_SOURCE, ERASURE_REQUESTED, detail)])
    logger.info("erasure requested", extra={"erasure_id": erasure["erasure_id"], **erasure["deleted"]})
    metrics.add_metric(name="ErasuresRequested", unit="Count", value=1)
    return json_response(
        HTTPStatus.ACCEPTED, {**erasure_status(erasure), "status_url": f"/v1/erasures/{erasure['erasure_id']}"}
    )


@app.get("/v1/erasures/<erasure_id>")
def get_erasure(erasure_id: str) -> Response:
    erasure = _store().get_erasure(erasure_id) if ID_PATTERN.match(erasure_id) else None
    if erasure is None:
        return json_response(HTTPStatus.NOT_FOUND, {"error": "no such erasure"})
    return json_response(HTTPStatus.OK, erasure_status(erasure))


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
