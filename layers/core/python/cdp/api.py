"""The HTTP API's resolver and answers: the one place domain errors become HTTP answers, for every API handler.

`http_api()` is an APIGatewayHttpResolver whose exception handlers turn a `cdp.errors.DomainError` into its status
with `{"error": message, "fields": [...]}` and a request Powertools' validation refuses into 400 with its fields;
`error_fields` adds fields every error answer of that API carries (the tracking API's `"success": false`, as
Segment answers). Bodies are JSON, DynamoDB numbers as JSON numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from cdp.errors import DomainError, field_errors
from cdp.privacy.requests import json_default

Answer = Response[str]


def json_answer(status: HTTPStatus | int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Answer:
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=json_default),
        headers=dict(headers or {}),
    )


def error_answer(error: DomainError, error_fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The API Gateway (payload 2.0) answer to a request refused before it reaches the resolver's routes."""
    return {
        "statusCode": int(error.status),
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **error.headers()},
        "body": json.dumps({**(error_fields or {}), **error.body()}, default=json_default),
        "isBase64Encoded": False,
    }


def http_api(enable_validation: bool = False, error_fields: Mapping[str, Any] | None = None) -> APIGatewayHttpResolver:
    """A resolver whose routes raise DomainError (or fail Powertools validation) and get the mapped answer."""
    app = APIGatewayHttpResolver(enable_validation=enable_validation)
    extra = dict(error_fields or {})

    @app.exception_handler(DomainError)
    def _domain_error(error: DomainError) -> Answer:
        return json_answer(error.status, {**extra, **error.body()}, error.headers())

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Answer:
        return json_answer(HTTPStatus.BAD_REQUEST, {**extra, "error": "invalid request", "fields": field_errors(list(error.errors()))})

    return app
