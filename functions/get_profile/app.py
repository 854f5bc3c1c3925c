"""GET /v1/profiles/{id} (following merge redirects), and the lookup by one identifier: GET /v1/profiles/lookup?email=...
or POST /v1/profiles/lookup with `{"email": ...}`, which keeps the identifier out of URLs and access logs (IAM routes)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import http_api
from cdp.identity.lookup import identifier_in_body, profile_looked_up, profile_of
from cdp.observability import observed_handler

app = http_api(enable_validation=True)


@app.get("/v1/profiles/lookup")
def lookup_profile() -> dict[str, Any]:
    query = dict(app.current_event.query_string_parameters or {})
    return profile_looked_up(wiring.identity_store(), query, wiring.core().default_phone_region).as_json()


@app.post("/v1/profiles/lookup")
def lookup_profile_by_body() -> dict[str, Any]:
    identifier = identifier_in_body(app.current_event.decoded_body or "")
    return profile_looked_up(wiring.identity_store(), identifier, wiring.core().default_phone_region).as_json()


@app.get("/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    return profile_of(wiring.identity_store(), profile_id).as_json()


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
