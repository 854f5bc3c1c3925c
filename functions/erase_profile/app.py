"""DELETE /v1/profiles/{id} erases a person (DynamoDB now, S3 asynchronously); GET /v1/erasures/{id} tells how far."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import Answer, http_api, json_answer
from cdp.observability import logger, metrics, observed_handler
from cdp.privacy.erasure import erasure_of, erasure_status, request_erasure

app = http_api()


@app.delete("/v1/profiles/<profile_id>")
def delete_profile(profile_id: str) -> Answer:
    erasure = request_erasure(
        wiring.privacy_store(), wiring.publisher(), profile_id, wiring.erasure_salt(), datetime.now(UTC)
    )
    logger.info("erasure requested", extra={"erasure_id": erasure["erasure_id"], **erasure["deleted"]})
    metrics.add_metric(name="ErasuresRequested", unit="Count", value=1)
    return json_answer(
        HTTPStatus.ACCEPTED, {**erasure_status(erasure), "status_url": f"/v1/erasures/{erasure['erasure_id']}"}
    )


@app.get("/v1/erasures/<erasure_id>")
def get_erasure(erasure_id: str) -> Answer:
    return json_answer(HTTPStatus.OK, erasure_of(wiring.privacy_store(), erasure_id))


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
