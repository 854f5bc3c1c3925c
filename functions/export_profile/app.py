"""GET /v1/profiles/{id}/export: everything held about a person, as JSON (IAM-authorised route)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.privacy_store import PrivacyStore
from cdp.observability import observed_handler
from cdp.privacy.export import export_profile
from cdp.privacy.requests import ID_PATTERN, json_response
from cdp.settings import CoreSettings, load_settings

app = APIGatewayHttpResolver()


@app.get("/v1/profiles/<profile_id>/export")
def get_export(profile_id: str) -> Response:
    settings = load_settings(CoreSettings)
    exported = export_profile(PrivacyStore(settings.profiles_table, settings.ledger_table), profile_id) if ID_PATTERN.match(profile_id) else None
    if exported is None:
        return json_response(HTTPStatus.NOT_FOUND, {"error": "no such profile"})
    return json_response(HTTPStatus.OK, exported)


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
