"""GET /v1/segments/{name}/audience?format=csv|sha256 (IAM-authorised): the segment's reachable members from the
latest snapshot, as a CSV of contacts or of SHA-256 hashes for ad platforms; erased people and people without
marketing consent on a channel are left out (counts in the X-Audience-* headers)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import http_api
from cdp.errors import Invalid, TooLarge
from cdp.observability import logger, observed_handler
from cdp.privacy.erasure import identifier_digest
from cdp.segments.audience import export_audience

app = http_api()
FORMATS = ("csv", "sha256")
MAX_ANSWER_BYTES = 5_000_000  # under Lambda's 6 MB response


def _erased(identifiers: list[tuple[str, str]]) -> set[tuple[str, str]]:
    salt = wiring.erasure_salt()
    by_digest = {identifier_digest(salt, identifier): identifier for identifier in identifiers}
    return {by_digest[digest] for digest in wiring.privacy_store().erased_among(by_digest)}


@app.get("/v1/segments/<name>/audience")
def get_audience(name: str) -> Response[bytes]:
    chosen = app.current_event.get_query_string_value("format", "csv")
    if chosen not in FORMATS:
        raise Invalid("unknown format", [{"field": "format", "message": f"one of {', '.join(FORMATS)}"}])
    export = export_audience(name, wiring.segment_snapshots(), wiring.identity_store_contacts(), _erased,
                             wiring.core().default_phone_region)  # fmt: skip
    body = export.contacts_csv if chosen == "csv" else export.hashed_csv
    if len(body) > MAX_ANSWER_BYTES:
        raise TooLarge(f"the audience is larger than {MAX_ANSWER_BYTES:,} bytes")
    logger.info("audience exported", extra=export.summary() | {"format": chosen})
    headers = {f"X-Audience-{name.replace('_', '-').title()}": str(value)
               for name, value in export.summary().items() if name not in ("segment", "run_id")}  # fmt: skip
    return Response(status_code=HTTPStatus.OK, content_type="text/csv", body=body,
                    headers={**headers, "X-Audience-Run": export.run_id})  # fmt: skip


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
