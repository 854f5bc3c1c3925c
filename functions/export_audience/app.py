"""GET /v1/segments/{name}/audience?format=csv|sha256 (IAM-authorised): the segment's reachable members from the
latest snapshot, as a CSV of contacts or of SHA-256 hashes for ad platforms; erased people and people without
marketing consent on a channel are left out (counts in the X-Audience-* headers). An audience over the inline limit
is stored in the exports bucket and answered 303 See Other, its pre-signed URL in `Location` and in the JSON body
with `expires_at`."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import http_api, json_answer
from cdp.errors import Invalid
from cdp.observability import logger, observed_handler
from cdp.privacy.erasure import identifier_digest
from cdp.segments.audience import AudienceLink, deliver_audience, export_audience

app = http_api()
FORMATS = ("csv", "sha256")


def _erased(identifiers: list[tuple[str, str]]) -> set[tuple[str, str]]:
    salt = wiring.erasure_salt()
    by_digest = {identifier_digest(salt, identifier): identifier for identifier in identifiers}
    return {by_digest[digest] for digest in wiring.privacy_store().erased_among(by_digest)}


@app.get("/v1/segments/<name>/audience")
def get_audience(name: str) -> Response[Any]:
    chosen = app.current_event.get_query_string_value("format", "csv")
    if chosen not in FORMATS:
        raise Invalid("unknown format", [{"field": "format", "message": f"one of {', '.join(FORMATS)}"}])
    settings = wiring.audience_export_settings()
    export = export_audience(name, wiring.segment_snapshots(), wiring.identity_store_contacts(), _erased,
                             wiring.core().default_phone_region)  # fmt: skip
    delivered = deliver_audience(export, chosen, wiring.audience_export_files(), settings.inline_limit_bytes,
                                 settings.link_lifetime, datetime.now(UTC))  # fmt: skip
    headers = {f"X-Audience-{name.replace('_', '-').title()}": str(value)
               for name, value in export.summary().items() if name not in ("segment", "run_id")}  # fmt: skip
    headers["X-Audience-Run"] = export.run_id
    if isinstance(delivered, AudienceLink):
        logger.info("audience exported", extra=export.summary() | {"format": chosen, "stored_as": delivered.key})
        body = {"url": delivered.url, "expires_at": delivered.expires_at.isoformat(), "format": chosen,
                "bytes": delivered.size_bytes, **export.summary()}  # fmt: skip
        return json_answer(HTTPStatus.SEE_OTHER, body, {**headers, "Location": delivered.url})
    logger.info("audience exported", extra=export.summary() | {"format": chosen})
    return Response(status_code=HTTPStatus.OK, content_type="text/csv", body=delivered, headers=headers)


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
