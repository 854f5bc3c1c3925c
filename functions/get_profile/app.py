"""GET /v1/profiles/{id} (following merge redirects) and GET /v1/profiles/lookup?email=... (IAM-authorised routes)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.identity_store import IdentityStore
from cdp.identity.lookup import MalformedLookup, live_profile, profile_by_identifier
from cdp.observability import observed_handler
from cdp.profiles.read import public_profile
from cdp.settings import CoreSettings, load_settings

app = APIGatewayHttpResolver(enable_validation=True)


def _store() -> IdentityStore:
    settings = load_settings(CoreSettings)
    return IdentityStore(settings.profiles_table, settings.ledger_table)


def _presented(store: IdentityStore, item: dict[str, Any]) -> dict[str, Any]:
    return public_profile(item, identifiers=store.members(item["profile_id"]))


@app.get("/v1/profiles/lookup")
def lookup_profile() -> dict[str, Any]:
    query = dict(app.current_event.query_string_parameters or {})
    store = _store()
    try:
        item = profile_by_identifier(store, query, load_settings(CoreSettings).default_phone_region)
    except MalformedLookup as error:
        raise BadRequestError(str(error)) from error
    if item is None:
        raise NotFoundError("no profile holds that identifier")
    return _presented(store, item)


@app.get("/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    store = _store()
    try:
        item = live_profile(store, profile_id)
    except MalformedLookup as error:
        raise BadRequestError(str(error)) from error
    if item is None:
        raise NotFoundError(f"no profile {profile_id}")
    return _presented(store, item)


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
