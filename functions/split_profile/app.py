"""POST /v1/profiles/{id}/split: an administrator undoes a merge into this profile (IAM-authorised route).

Body (optional): `{"edge_id": "<merge edge id>"}`; without it the latest merge not yet undone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError, ServiceError
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.identity_store import IdentityStore
from cdp.identity.lookup import PROFILE_ID_PATTERN
from cdp.identity.split import SplitRefused, split_profile
from cdp.observability import observed_handler
from cdp.settings import CoreSettings, load_settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError

app = APIGatewayHttpResolver()
MAX_BODY_BYTES = 4096


class SplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    edge_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


def _request() -> SplitRequest:
    body = app.current_event.decoded_body or ""
    if len(body.encode()) > MAX_BODY_BYTES:
        raise BadRequestError(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        return SplitRequest.model_validate_json(body) if body.strip() else SplitRequest()
    except ValidationError as error:
        raise BadRequestError("; ".join(detail["msg"] for detail in error.errors())) from error


@app.post("/v1/profiles/<profile_id>/split")
def split(profile_id: str) -> dict[str, Any]:
    if not PROFILE_ID_PATTERN.match(profile_id):
        raise BadRequestError("a profile id is 1-64 letters, digits, '-' or '_'")
    request = _request()
    settings = load_settings(CoreSettings)
    store = IdentityStore(settings.profiles_table, settings.ledger_table)
    cause = f"split:{app.current_event.request_context.request_id}"
    try:
        outcome = split_profile(store, profile_id, request.edge_id, cause, datetime.now(UTC))
    except SplitRefused as refused:
        if refused.status == 404:
            raise NotFoundError(str(refused)) from refused
        raise ServiceError(refused.status, str(refused)) from refused
    return {
        "edge_id": outcome.edge_id,
        "undoes": outcome.undoes,
        "profile_id": outcome.survivor,
        "restored_profile_id": outcome.restored,
        "identifiers_moved": len(outcome.identifiers),
        "records_moved": len(outcome.records),
    }


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
