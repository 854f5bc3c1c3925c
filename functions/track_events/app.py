"""Segment HTTP Tracking API (`POST /v1/{track,identify,page,screen,group,alias,batch}`), Shopify webhooks
(`POST /v1/webhooks/shopify`) and this API's OpenAPI document (`GET /v1/openapi.json`).

Tracking calls are authenticated by the source's write key: the HTTP Basic username (checked by the write-key
authorizer at the gateway) or, as Segment also allows, `writeKey` in the JSON body (checked here). Webhooks are
authenticated by their Shopify HMAC signature; the mandatory privacy topics (customers/redact, customers/data_request,
shop/redact) are acted on by `cdp.tracking.shopify_privacy`. Bodies may be gzip-encoded; limits are Segment's (32 KB per call,
500 KB per batch) and are answered 400, as Segment does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.utilities.typing import LambdaContext
from cdp.adapters.curated_stream import CuratedStreams
from cdp.adapters.event_bus import publish
from cdp.adapters.event_ledger import MessageRegister
from cdp.adapters.privacy_store import PrivacyStore
from cdp.adapters.profile_store import ProfileStore
from cdp.adapters.shop_data import ShopData
from cdp.adapters.sources import ShopSecretsUnavailable, find_source, shop_secret
from cdp.observability import logger, metrics, observed_handler
from cdp.privacy.erasure import current_salt
from cdp.settings import load_settings
from cdp.tracking.apply import TrackingPorts, apply_calls, apply_webhook
from cdp.tracking.http_body import BadBody, decoded_body, raw_body, strict_json
from cdp.tracking.messages import (
    MAX_BATCH_BYTES,
    MAX_CALL_BYTES,
    AliasCall,
    BatchRequest,
    Call,
    GroupCall,
    IdentifyCall,
    InvalidCall,
    PageCall,
    ScreenCall,
    TrackCall,
    field_errors,
    parse_call,
)
from cdp.tracking.openapi import completed_document
from cdp.tracking.settings import TrackingSettings
from cdp.tracking.shopify import MAX_WEBHOOK_BYTES, signature_is_valid
from cdp.tracking.shopify_privacy import PRIVACY_TOPICS, PrivacyPorts, apply_privacy_webhook

BATCH_PATH = "/v1/batch"
SHOPIFY_PATH = "/v1/webhooks/shopify"
RETRY_AFTER_SECONDS = 30

app = APIGatewayHttpResolver(enable_validation=True)


Answer = Response[dict[str, Any]]


def _json(status: HTTPStatus, body: dict[str, Any]) -> Answer:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _failure(status: HTTPStatus, error: str, fields: list[dict[str, str]] | None = None) -> Answer:
    return _json(status, {"success": False, "error": error, **({"fields": fields} if fields is not None else {})})


def _send_again() -> Answer:
    """Applied to profiles, but not every row reached the curated zone; nothing was remembered, so the client's
    retry (Segment's libraries and Shopify retry a 5xx) completes it."""
    metrics.add_metric(name="CuratedDeliveryRetriesAsked", unit="Count", value=1)
    return _failure(HTTPStatus.SERVICE_UNAVAILABLE, "not stored yet: send the same request again")


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Answer:
    return _failure(HTTPStatus.BAD_REQUEST, "invalid request", field_errors(list(error.errors())))


@app.exception_handler(ShopSecretsUnavailable)
def _secrets_unavailable(error: ShopSecretsUnavailable) -> Answer:
    """SSM throttled or down: a retryable 503 (Shopify retries webhooks), never a 500."""
    logger.warning("shop secrets unavailable", extra={"error": str(error.__cause__ or error)})
    return Response(
        status_code=HTTPStatus.SERVICE_UNAVAILABLE,
        content_type=content_types.APPLICATION_JSON,
        body={"success": False, "error": "temporarily unavailable, retry later"},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _ports(settings: TrackingSettings) -> TrackingPorts:
    return TrackingPorts(
        store=ProfileStore(settings.profiles_table, settings.ledger_table),
        register=MessageRegister(settings.ledger_table),
        curated=CuratedStreams(settings.curated_streams),
        dedupe_window=settings.dedupe_window,
        backfill_horizon=settings.backfill_horizon,
        phone_region=settings.default_phone_region,
    )


def _privacy_ports(settings: TrackingSettings) -> PrivacyPorts:
    return PrivacyPorts(
        store=PrivacyStore(settings.profiles_table, settings.ledger_table),
        shop_data=ShopData(
            settings.profiles_table, settings.ledger_table, settings.privacy_exports_bucket, settings.shop_secret_prefix
        ),
        register=MessageRegister(settings.ledger_table),
        dedupe_window=settings.dedupe_window,
        salt=current_salt(),
        phone_region=settings.default_phone_region,
    )


def _source_of(body_write_key: str | None, settings: TrackingSettings) -> str | Answer:
    """The source the gateway authorizer found from the Basic header, else the body's `writeKey`'s; or 401/403."""
    authorized = app.current_event.request_context.authorizer.get_lambda or {}
    if authorized.get("source_id"):
        return str(authorized["source_id"])
    if not body_write_key:
        return _failure(HTTPStatus.UNAUTHORIZED, "write key required: HTTP Basic username or writeKey in the body")
    source = find_source(settings.profiles_table, body_write_key)
    if source is None:
        return _failure(HTTPStatus.FORBIDDEN, "unknown write key")
    return str(source["source_id"])


def _single(call: Call) -> Answer:
    settings = load_settings(TrackingSettings)
    source_id = _source_of(call.write_key, settings)
    if isinstance(source_id, Response):
        return source_id
    result = apply_calls(_ports(settings), source_id, [(0, call)], datetime.now(UTC))
    if result.rejected:
        return _failure(HTTPStatus.BAD_REQUEST, "invalid call", result.rejected[0]["errors"])
    publish(settings.event_bus_name, result.applied.events)
    if result.retry:
        return _send_again()
    metrics.add_metric(name="TrackingCallsAccepted", unit="Count", value=len(result.accepted))
    return _json(HTTPStatus.OK, {"success": True, **({"duplicate": True} if result.duplicates else {})})


@app.post("/v1/identify")
def identify(call: Annotated[IdentifyCall, Body()]) -> Answer:
    return _single(call)


@app.post("/v1/track")
def track(call: Annotated[TrackCall, Body()]) -> Answer:
    return _single(call)


@app.post("/v1/page")
def page(call: Annotated[PageCall, Body()]) -> Answer:
    return _single(call)


@app.post("/v1/screen")
def screen(call: Annotated[ScreenCall, Body()]) -> Answer:
    return _single(call)


@app.post("/v1/group")
def group(call: Annotated[GroupCall, Body()]) -> Answer:
    return _single(call)


@app.post("/v1/alias")
def alias(call: Annotated[AliasCall, Body()]) -> Answer:
    return _single(call)


@app.post(BATCH_PATH)
def batch(request: Annotated[BatchRequest, Body()]) -> Answer:
    """Each call is validated on its own: good ones are applied, bad ones reported by index (partial acceptance)."""
    settings = load_settings(TrackingSettings)
    source_id = _source_of(request.write_key, settings)
    if isinstance(source_id, Response):
        return source_id
    valid: list[tuple[int, Call]] = []
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(request.batch):
        try:
            valid.append((index, parse_call(raw, request.context)))
        except InvalidCall as invalid:
            rejected.append({"index": index, "errors": invalid.errors})
    result = apply_calls(_ports(settings), source_id, valid, datetime.now(UTC), request.sent_at)
    rejected = sorted(rejected + result.rejected, key=lambda rejection: rejection["index"])
    publish(settings.event_bus_name, result.applied.events)
    if result.retry:
        return _send_again()
    metrics.add_metric(name="TrackingCallsAccepted", unit="Count", value=len(result.accepted))
    metrics.add_metric(name="TrackingCallsRejected", unit="Count", value=len(rejected))
    logger.info(
        "batch applied",
        extra={"accepted": len(result.accepted), "duplicates": len(result.duplicates), "rejected": len(rejected)},
    )
    status = HTTPStatus.OK if result.accepted or result.duplicates else HTTPStatus.BAD_REQUEST
    return _json(
        status,
        {
            "success": not rejected,
            "accepted": len(result.accepted),
            "duplicates": result.duplicates,
            "rejected": rejected,
        },
    )


@app.post(SHOPIFY_PATH)
def shopify_webhook(
    topic: Annotated[str, Header(alias="x-shopify-topic")],
    shop: Annotated[str, Header(alias="x-shopify-shop-domain")],
    webhook_id: Annotated[str, Header(alias="x-shopify-webhook-id")],
    signature: Annotated[str | None, Header(alias="x-shopify-hmac-sha256")] = None,
) -> Answer:
    """A Shopify webhook, applied once per webhook id; an unsigned, mis-signed or unknown shop's one changes nothing."""
    settings = load_settings(TrackingSettings)
    try:
        body = raw_body(app.current_event.body, bool(app.current_event.is_base64_encoded))
    except BadBody as bad:
        return _failure(HTTPStatus.BAD_REQUEST, str(bad))
    if len(body) > MAX_WEBHOOK_BYTES:
        return _failure(HTTPStatus.BAD_REQUEST, f"body larger than {MAX_WEBHOOK_BYTES // 1024} KB")
    secret = shop_secret(settings.shop_secret_prefix, shop) if signature else None
    if secret is None or not signature_is_valid(body, signature, secret):
        logger.warning("webhook signature refused", extra={"shop": shop, "topic": topic})
        return _failure(HTTPStatus.UNAUTHORIZED, "invalid webhook signature")
    try:
        if topic in PRIVACY_TOPICS:
            outcome = apply_privacy_webhook(_privacy_ports(settings), shop, topic, webhook_id, body, datetime.now(UTC))
        else:
            outcome = apply_webhook(_ports(settings), shop, topic, webhook_id, body, datetime.now(UTC))
    except InvalidCall as invalid:
        return _failure(HTTPStatus.BAD_REQUEST, "invalid webhook payload", invalid.errors)
    publish(settings.event_bus_name, outcome.events)
    if outcome.status == "retry":
        return _send_again()
    return _json(HTTPStatus.OK, {"success": True, "outcome": outcome.status})


@app.get("/v1/openapi.json")
def openapi_document() -> Answer:
    """This API's OpenAPI 3 document: generated from the routes' pydantic models, completed as the API behaves."""
    generated = app.get_openapi_schema(title="Customer data platform: tracking API", version="1.0.0")
    return _json(HTTPStatus.OK, completed_document(generated.model_dump(mode="json", by_alias=True, exclude_none=True)))


def _with_decoded_body(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its tracking body un-gzipped and within Segment's limit (webhooks keep their raw body)."""
    path = event.get("rawPath", "")
    if event.get("requestContext", {}).get("http", {}).get("method") != "POST" or path == SHOPIFY_PATH:
        return event
    headers = event.get("headers") or {}
    limit = MAX_BATCH_BYTES if path == BATCH_PATH else MAX_CALL_BYTES
    sent = raw_body(event.get("body"), event.get("isBase64Encoded", False))
    try:
        text = decoded_body(sent, headers.get("content-encoding"), limit).decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body is not UTF-8 JSON") from None
    strict_json(text)
    plain_headers = {name: value for name, value in headers.items() if name != "content-encoding"}
    return {**event, "headers": plain_headers, "body": text, "isBase64Encoded": False}


@observed_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        prepared = _with_decoded_body(event)
    except BadBody as bad:
        return {
            "statusCode": HTTPStatus.BAD_REQUEST,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps({"success": False, "error": str(bad)}),
            "isBase64Encoded": False,
        }
    return app.resolve(prepared, context)
