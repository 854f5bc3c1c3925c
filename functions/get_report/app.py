"""GET /v1/reports/latest: the latest marketing report as JSON, for BI tools (IAM-authorised route)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import http_api
from cdp.measure.latest import latest_report
from cdp.observability import observed_handler

app = http_api(enable_validation=True)


@app.get("/v1/reports/latest")
def get_latest_report() -> dict[str, Any]:
    return latest_report(wiring.report_store())


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
