"""GET /v1/profiles/{id} (following merge redirects) and GET /v1/profiles/lookup?email=... (IAM-authorised routes)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import http_api
from cdp.identity.lookup import profile_looked_up, profile_of
from cdp.observability import observed_handler

app = http_api(enable_validation=True)


@app.get("/v1/profiles/lookup")
def lookup_profile() -> dict[str, Any]:
    query = dict(app.current_event.query_string_parameters or {})
    return profile_looked_up(wiring.identity_store(), query, wiring.core().default_phone_region).as_json()


@app.get("/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    return profile_of(wiring.identity_store(), profile_id).as_json()


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
