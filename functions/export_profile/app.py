"""GET /v1/profiles/{id}/export: everything held about a person, as JSON (IAM-authorised route)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import Answer, http_api, json_answer
from cdp.observability import observed_handler
from cdp.privacy.export import export_of

app = http_api()


@app.get("/v1/profiles/<profile_id>/export")
def get_export(profile_id: str) -> Answer:
    return json_answer(HTTPStatus.OK, export_of(wiring.privacy_store(), profile_id))


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
