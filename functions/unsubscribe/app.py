"""GET/POST /v1/unsubscribe (public, authenticated by the link's signed token): the preference page, RFC 8058
one-click unsubscribe and the page's form; refusals are 4xx JSON answers (cdp.api), never a 5xx."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp import wiring
from cdp.api import http_api
from cdp.errors import Invalid
from cdp.messaging.unsubscribe import preferences, save_preferences, unsubscribe_one_click
from cdp.messaging.unsubscribe_page import SECURITY_HEADERS, changed_page, form_fields, preference_page
from cdp.observability import metrics, observed_handler

app = http_api()
ONE_CLICK = ("List-Unsubscribe", ["One-Click"])


def _html(body: str) -> Response[str]:
    return Response(status_code=200, content_type=SECURITY_HEADERS["Content-Type"], body=body, headers=SECURITY_HEADERS)


def _token() -> str | None:
    return app.current_event.get_query_string_value("token")


@app.get("/v1/unsubscribe")
def get_preferences() -> Response[str]:
    current = preferences(wiring.unsubscribe_parts(), _token(), datetime.now(UTC))
    return _html(preference_page(current, "?" + urlencode({"token": _token()})))


@app.post("/v1/unsubscribe")
def post_unsubscribe() -> Response[str]:
    event = app.current_event
    body = event.decoded_body or ""
    fields = form_fields(body.encode("utf-8"), event.headers.get("content-type", ""))
    now = datetime.now(UTC)
    if fields.get(ONE_CLICK[0]) == ONE_CLICK[1]:
        token = unsubscribe_one_click(wiring.unsubscribe_parts(), _token(), now)
        metrics.add_metric(name="OneClickUnsubscribes", unit="Count", value=1)
        return _html(changed_page(f"You will receive no more {token.purpose} {token.channel} messages from us."))
    if fields.get("form") == ["preferences"]:
        chosen = {key: True for key in fields.get("consent", [])}
        save_preferences(wiring.unsubscribe_parts(), _token(), chosen, now)
        metrics.add_metric(name="PreferencesSaved", unit="Count", value=1)
        return _html(changed_page("Your choices are saved."))
    raise Invalid("expected List-Unsubscribe=One-Click (RFC 8058) or the preference form")


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
