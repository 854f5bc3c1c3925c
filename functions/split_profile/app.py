"""POST /v1/profiles/{id}/split: an administrator undoes a merge into this profile (IAM-authorised route).

Body (optional): `{"edge_id": "<merge edge id>"}`; without it the latest merge not yet undone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import http_api
from cdp.errors import Invalid
from cdp.identity.lookup import PROFILE_ID_PATTERN
from cdp.identity.split import split_profile
from cdp.observability import observed_handler
from pydantic import BaseModel, ConfigDict, Field, ValidationError

app = http_api()
MAX_BODY_BYTES = 4096


class SplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    edge_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


def _request(profile_id: str) -> SplitRequest:
    if not PROFILE_ID_PATTERN.match(profile_id):
        raise Invalid("a profile id is 1-64 letters, digits, '-' or '_'")
    body = app.current_event.decoded_body or ""
    if len(body.encode()) > MAX_BODY_BYTES:
        raise Invalid(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        return SplitRequest.model_validate_json(body) if body.strip() else SplitRequest()
    except ValidationError as error:
        raise Invalid("; ".join(detail["msg"] for detail in error.errors())) from error


@app.post("/v1/profiles/<profile_id>/split")
def split(profile_id: str) -> dict[str, Any]:
    request = _request(profile_id)
    cause = f"split:{app.current_event.request_context.request_id}"
    outcome = split_profile(wiring.identity_store(), profile_id, request.edge_id, cause, datetime.now(UTC))
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
