"""POST /v1/consents: record one consent statement for a person (IAM-authorised route); the newer statement wins."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.privacy_store import PrivacyStore
from cdp.identity.resolution import current_profile_id
from cdp.observability import metrics, observed_handler
from cdp.privacy.consent import ConsentChange, apply_consent_records
from cdp.privacy.erasure import PrivacySettings, current_salt, drop_erased
from cdp.privacy.requests import MAX_BODY_BYTES, ConsentRequest, json_response, validation_errors
from cdp.settings import load_settings
from pydantic import ValidationError

app = APIGatewayHttpResolver()


@app.post("/v1/consents")
def post_consent() -> Response:
    body = app.current_event.decoded_body or ""
    if len(body.encode()) > MAX_BODY_BYTES:
        return json_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body larger than 16 KB"})
    settings = load_settings(PrivacySettings)
    try:
        request = ConsentRequest.model_validate_json(body, context={"phone_region": settings.default_phone_region})
    except ValidationError as error:
        return json_response(HTTPStatus.BAD_REQUEST, {"error": "invalid consent", "fields": validation_errors(error.errors())})
    store = PrivacyStore(settings.profiles_table, settings.ledger_table)
    now = datetime.now(UTC)
    if request.profile_id:
        profile_id = current_profile_id(store, request.profile_id)
        if profile_id is None:
            return json_response(HTTPStatus.NOT_FOUND, {"error": "no such profile"})
        change = ConsentChange(request.channel, request.purpose, request.granted, request.recorded_at, request.source)
        [applied] = store.record_consents(profile_id, [change], now)
    else:
        rows, erased = drop_erased(store, [request.as_row()], current_salt())
        if erased:
            return json_response(HTTPStatus.CONFLICT, {"error": "this identifier was erased; it is not processed"})
        applied = apply_consent_records(store, rows, request.source, now).records_applied == 1
    metrics.add_metric(name="ConsentsRecorded" if applied else "ConsentsOutdated", unit="Count", value=1)
    return json_response(
        HTTPStatus.OK, {"applied": applied, "reason": "recorded" if applied else "a newer statement is kept"}
    )


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
