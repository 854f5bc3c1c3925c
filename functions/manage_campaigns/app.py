"""The campaign API (IAM-authorised routes): create, list, show, pause, resume and cancel campaigns."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import Answer, http_api, json_answer
from cdp.campaigns.definition import MAX_DOCUMENT_BYTES
from cdp.campaigns.manage import change_state, create_campaign, list_campaigns, show_campaign
from cdp.errors import TooLarge
from cdp.observability import logger, metrics, observed_handler

app = http_api()


@app.post("/v1/campaigns")
def post_campaign() -> Answer:
    body = app.current_event.decoded_body or ""
    if len(body.encode()) > MAX_DOCUMENT_BYTES:
        raise TooLarge(f"a campaign is at most {MAX_DOCUMENT_BYTES} bytes")
    campaign = create_campaign(body, wiring.campaign_manage_parts(), datetime.now(UTC))
    metrics.add_metric(name="CampaignsCreated", unit="Count", value=1)
    logger.info("campaign created", extra={"campaign": campaign.name, "schedule": campaign.schedule.expression()})
    return json_answer(HTTPStatus.CREATED, campaign.model_dump(mode="json"))


@app.get("/v1/campaigns")
def get_campaigns() -> Answer:
    query = app.current_event
    page = list_campaigns(
        wiring.campaign_manage_parts(), query.get_query_string_value("limit"), query.get_query_string_value("next")
    )
    return json_answer(HTTPStatus.OK, page)


@app.get("/v1/campaigns/<name>")
def get_campaign(name: str) -> Answer:
    return json_answer(HTTPStatus.OK, show_campaign(name, wiring.campaign_manage_parts()))


def _change(name: str, action: str) -> Answer:
    campaign = change_state(name, action, wiring.campaign_manage_parts(), datetime.now(UTC))
    logger.info("campaign state changed", extra={"campaign": name, "state": campaign.state})
    return json_answer(HTTPStatus.OK, {"name": name, "state": campaign.state})


@app.post("/v1/campaigns/<name>/pause")
def pause_campaign(name: str) -> Answer:
    return _change(name, "pause")


@app.post("/v1/campaigns/<name>/resume")
def resume_campaign(name: str) -> Answer:
    return _change(name, "resume")


@app.post("/v1/campaigns/<name>/cancel")
def cancel_campaign(name: str) -> Answer:
    return _change(name, "cancel")


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
