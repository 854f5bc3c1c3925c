"""/v1/segments (IAM-authorised): store, list, show and delete segment and tag definitions the segment run
evaluates beside the shipped library; a bad definition is refused with 400 naming each problem's place."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import Answer, http_api, json_answer
from cdp.errors import Invalid, TooLarge
from cdp.observability import metrics, observed_handler
from cdp.segments.definitions import load_library
from cdp.segments.manage import MAX_DOCUMENT_BYTES, create_definition, delete_definition, show_definition

app = http_api()


def _document() -> Any:
    body = app.current_event.decoded_body or ""
    if len(body.encode()) > MAX_DOCUMENT_BYTES:
        raise TooLarge(f"body larger than {MAX_DOCUMENT_BYTES // 1024} KB")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        raise Invalid("invalid definition", [{"field": "(document)", "message": "not JSON"}]) from None


@app.post("/v1/segments")
def post_segment() -> Answer:
    name = create_definition(wiring.segment_definitions(), load_library(), _document(), datetime.now(UTC))
    metrics.add_metric(name="SegmentDefinitionsStored", unit="Count", value=1)
    return json_answer(HTTPStatus.CREATED, {"name": name})


@app.get("/v1/segments")
def list_segments() -> Answer:
    return json_answer(HTTPStatus.OK, {"definitions": wiring.segment_definitions().list()})


@app.get("/v1/segments/<name>")
def get_segment(name: str) -> Answer:
    return json_answer(HTTPStatus.OK, show_definition(wiring.segment_definitions(), name))


@app.delete("/v1/segments/<name>")
def remove_segment(name: str) -> Answer:
    delete_definition(wiring.segment_definitions(), name)
    return json_answer(HTTPStatus.OK, {"deleted": name})


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
