"""POST /v1/consents: record one consent statement for a person (IAM-authorised route); the newer statement wins."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import Answer, http_api, json_answer
from cdp.errors import Invalid, TooLarge, field_errors
from cdp.observability import metrics, observed_handler
from cdp.privacy.requests import MAX_BODY_BYTES, ConsentRequest
from cdp.records.consents import record_consent_request
from pydantic import ValidationError

app = http_api()


def _request() -> ConsentRequest:
    body = app.current_event.decoded_body or ""
    if len(body.encode()) > MAX_BODY_BYTES:
        raise TooLarge("body larger than 16 KB")
    try:
        return ConsentRequest.model_validate_json(body, context={"phone_region": wiring.core().default_phone_region})
    except ValidationError as error:
        raise Invalid("invalid consent", field_errors(error.errors())) from error


@app.post("/v1/consents")
def post_consent() -> Answer:
    request = _request()
    applied = record_consent_request(wiring.privacy_store(), request, wiring.erasure_salt(), datetime.now(UTC))
    metrics.add_metric(name="ConsentsRecorded" if applied else "ConsentsOutdated", unit="Count", value=1)
    return json_answer(HTTPStatus.OK, {"applied": applied, "reason": "recorded" if applied else "a newer statement is kept"})


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
