"""EventBridge Scheduler target: start one run of a campaign (resolve the audience, queue its sends)."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.campaigns.run import start_run
from cdp.observability import logger, metrics, observed_handler
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ScheduledStart(BaseModel):
    """The schedule's input: the campaign and its firing time (`<aws.scheduler.scheduled-time>`)."""

    model_config = ConfigDict(extra="forbid")

    campaign: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    scheduled_at: AwareDatetime


@observed_handler
@event_parser(model=ScheduledStart)
def handler(event: ScheduledStart, context: LambdaContext) -> dict[str, Any]:
    summary = start_run(event.campaign, event.scheduled_at, wiring.campaign_start_parts(), wiring.clock())
    metrics.add_metric(name="CampaignAudience", unit="Count", value=summary.audience)
    metrics.add_metric(name="CampaignChunksQueued", unit="Count", value=summary.chunks_queued)
    result = {"campaign": summary.campaign, "run_id": summary.run_id, "status": summary.status,
              "audience": summary.audience, "groups": dict(summary.groups), "chunks": summary.chunks,
              "chunks_queued": summary.chunks_queued, "missing_segments": summary.missing_segments}  # fmt: skip
    logger.info("campaign run started", extra=result)
    return result
