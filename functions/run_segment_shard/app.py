"""A step of the sharded segment run, for one shard: leave its purchase histories for the fit, or compute, save
and announce its profiles against the whole population's cut points and the fit's predictions."""

from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, metrics, observed_handler
from cdp.segments.sharded import compute_shard, shard_histories
from pydantic import BaseModel, Field


class ShardStep(BaseModel):
    step: Literal["histories", "compute"]
    run_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")
    shard: int = Field(ge=0, lt=1000)
    fit: dict[str, Any] = {}  # the prediction function's answer (compute)


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ShardStep.model_validate(event)
    parts, work = wiring.segment_run_parts(), wiring.segment_shard_work()
    if request.step == "histories":
        return shard_histories(parts, work, request.run_id, request.shard)
    result = compute_shard(parts, work, request.run_id, request.shard, request.fit)
    metrics.add_metric(name="SegmentsEntered", unit="Count", value=result["entered"])
    metrics.add_metric(name="SegmentsExited", unit="Count", value=result["exited"])
    metrics.add_metric(name="SegmentWriteConflicts", unit="Count", value=result["conflicts"])
    logger.info("segment shard computed", extra={"run_id": request.run_id, **result})
    return result
