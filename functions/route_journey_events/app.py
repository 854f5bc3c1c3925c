"""Journey router: a bus event enters the journeys it triggers and stops the runs it is a goal or exit of."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.journeys.definition import shipped_definitions
from cdp.journeys.router import BusEvent, route_event
from cdp.observability import logger, metrics, observed_handler


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bus_event = BusEvent.of(event if isinstance(event, dict) else {})
    if bus_event.profile_id is None:
        logger.warning(
            "event without a usable profile_id", extra={"source": bus_event.source, "type": bus_event.detail_type}
        )
        return {"routed": []}
    routed = route_event(bus_event, shipped_definitions(), wiring.journey_router_parts(), wiring.clock())
    for outcome in routed:
        metrics.add_metric(name=f"Journey{outcome.outcome.split(':')[0].capitalize()}", unit="Count", value=1)
    logger.info("journey event routed", extra={"type": bus_event.detail_type, "routed": [vars(r) for r in routed]})
    return {"routed": [vars(outcome) for outcome in routed]}
