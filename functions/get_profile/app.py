"""GET /v1/profiles/{id}: an administrator reads one unified profile (IAM-authorised route)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.profile_store import ProfileStore
from cdp.observability import observed_handler
from cdp.profiles.read import public_profile
from cdp.settings import CoreSettings, load_settings

app = APIGatewayHttpResolver(enable_validation=True)


@app.get("/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    settings = load_settings(CoreSettings)
    item = ProfileStore(settings.profiles_table, settings.ledger_table).get_profile(profile_id)
    if item is None:
        raise NotFoundError(f"no profile {profile_id}")
    return public_profile(item)


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
