"""The sharded segment run's last step: add the shards up into the run's report, personas and snapshot."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.observability import logger, observed_handler
from cdp.segments.sharded import finish_sharded_run
from pydantic import BaseModel, Field


class FinishRequest(BaseModel):
    run_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = FinishRequest.model_validate(event)
    report = finish_sharded_run(wiring.segment_run_parts(), wiring.segment_shard_work(), request.run_id)
    logger.info("sharded segment run finished",
                extra={"run_id": request.run_id, "shards": report["shards"], "entered": report["entered"],
                       "exited": report["exited"], "snapshot": report["snapshot"]})  # fmt: skip
    return report
