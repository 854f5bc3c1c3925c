"""HTTP API Lambda authorizer (payload 2.0, simple responses) for the tracking routes.

A request with an Authorization header must carry a known write key as its HTTP Basic username, else it is refused
(403) at the gateway. A request without one is let through with no source: the Segment spec also allows `writeKey`
in the JSON body, which only the function can read, and the function answers 401/403 when that is missing or unknown.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import APIGatewayAuthorizerEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, observed_handler
from cdp.tracking.write_keys import write_key_from_authorization

BODY_WRITE_KEY = {"isAuthorized": True, "context": {"source_id": ""}}


@observed_handler
@event_source(data_class=APIGatewayAuthorizerEventV2)
def handler(event: APIGatewayAuthorizerEventV2, context: LambdaContext) -> dict[str, Any]:
    authorization = event.headers.get("authorization")
    if not authorization:
        return BODY_WRITE_KEY
    write_key = write_key_from_authorization(authorization)
    source = wiring.write_keys().find_source(write_key) if write_key else None
    if source is None:
        logger.info("write key refused")
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": {"source_id": source["source_id"]}}
