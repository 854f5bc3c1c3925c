"""The API's OpenAPI document as it behaves: Powertools' generated paths completed with what the gateway and the
handlers really answer.

Powertools lists a 422 it never sends here (validation errors are answered 400, as Segment does) and knows nothing
of the gateway: the write-key authorizer (401/403), the 10 MB payload limit (413), SigV4 on the admin routes, or the
Shopify HMAC. The admin (IAM) routes live in other functions and are described from `ADMIN_ROUTES`, which a test
keeps equal to the template's routes.
"""

from __future__ import annotations

import copy
from typing import Any

CALL_SCHEMAS = ("IdentifyCall", "TrackCall", "PageCall", "ScreenCall", "GroupCall", "AliasCall")
FAILURE = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "error": {"type": "string"},
        "fields": {
            "type": "array",
            "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
        },
    },
}
GATEWAY_MESSAGE = {"type": "object", "properties": {"message": {"type": "string"}}}
SECURITY_SCHEMES = {
    "writeKey": {
        "type": "http",
        "scheme": "basic",
        "description": "The source's write key as the HTTP Basic username (empty password); or `writeKey` in the body.",
    },
    "shopifyHmac": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Shopify-Hmac-Sha256",
        "description": "Base64 HMAC-SHA256 of the raw body under the shop's webhook secret.",
    },
    "sigv4": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "AWS Signature Version 4 of an IAM principal allowed to invoke the route (execute-api).",
        "x-amazon-apigateway-authtype": "awsSigv4",
    },
}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]
_LOOKUP = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("customer_id", "email", "phone", "anonymous_id")
]
_PAGE = [
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    {"name": "next", "in": "query", "required": False, "schema": {"type": "string"}},
]
_LOOKUP_BODY = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {name: {"type": "string"} for name in ("customer_id", "email", "phone", "anonymous_id")},
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": False,
            }
        }
    },
    "required": True,
}
_NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]
_JSON_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}
# (method, path) -> summary, parameters, request body, answers besides the common ones
ADMIN_ROUTES: dict[tuple[str, str], tuple[str, list[dict[str, Any]], dict[str, Any] | None, tuple[str, ...]]] = {
    ("get", "/v1/profiles/{id}"): ("Read one unified profile", _ID, None, ("404",)),
    ("get", "/v1/profiles/lookup"): ("Find the profile holding exactly one identifier", _LOOKUP, None, ("404",)),
    ("post", "/v1/profiles/lookup"): (
        "Find the profile holding exactly one identifier, given in the body (kept out of URLs and logs)",
        [],
        _LOOKUP_BODY,
        ("404",),
    ),
    ("post", "/v1/profiles/{id}/split"): ("Split identifiers off a merged profile", _ID, _JSON_OBJECT, ("404", "409")),
    ("post", "/v1/consents"): ("Record a consent statement", [], _JSON_OBJECT, ("413",)),
    ("delete", "/v1/profiles/{id}"): ("Request the erasure of a person", _ID, None, ("202", "404")),
    ("get", "/v1/erasures/{id}"): ("Read an erasure request's state", _ID, None, ("404",)),
    ("get", "/v1/profiles/{id}/export"): ("Export a person's data", _ID, None, ("404",)),
    ("post", "/v1/segments"): ("Store a segment or tag definition", [], _JSON_OBJECT, ("201", "409", "413")),
    ("get", "/v1/segments"): ("List the stored definitions", [], None, ()),
    ("get", "/v1/segments/{name}"): ("Read one stored definition", _NAME, None, ("404",)),
    ("delete", "/v1/segments/{name}"): ("Delete a stored definition", _NAME, None, ("204", "404")),
    ("get", "/v1/segments/{name}/audience"): ("Export a segment's audience (CSV or SHA-256)", _NAME, None, ("404",)),
    ("post", "/v1/campaigns"): ("Create a campaign", [], _JSON_OBJECT, ("201", "409", "413")),
    ("get", "/v1/campaigns"): ("List the campaigns, a page at a time (limit, next)", _PAGE, None, ()),
    ("get", "/v1/campaigns/{name}"): ("Read one campaign", _NAME, None, ("404",)),
    ("post", "/v1/campaigns/{name}/pause"): ("Pause a campaign", _NAME, None, ("404", "409")),
    ("post", "/v1/campaigns/{name}/resume"): ("Resume a campaign", _NAME, None, ("404", "409")),
    ("post", "/v1/campaigns/{name}/cancel"): ("Cancel a campaign", _NAME, None, ("404", "409")),
    ("get", "/v1/reports/latest"): ("Read the latest marketing report (attribution, uplift, KPIs)", [], None, ("404",)),
}
DESCRIPTIONS = {
    "200": "Done",
    "201": "Created",
    "202": "Accepted: carried out asynchronously",
    "204": "Done, nothing to answer",
    "400": "Malformed, oversized or invalid request (field errors under `fields`)",
    "401": "Credentials missing",
    "403": "Credentials refused",
    "404": "Nothing found",
    "409": "In conflict with the current state",
    "410": "Expired",
    "413": "Payload over API Gateway's 10 MB limit",
    "429": "Over the stage's throttling budget",
    "503": "A dependency is throttled: retry after `Retry-After` seconds",
}


# ---- feedback: the public unsubscribe routes (authenticated by the link's signed token) ----
_TOKEN = [{"name": "token", "in": "query", "required": True, "schema": {"type": "string"}}]
_FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "List-Unsubscribe": {"type": "string", "enum": ["One-Click"]},
        "form": {"type": "string", "enum": ["preferences"]},
        "consent": {"type": "array", "items": {"type": "string"}},
    },
}
_FORM = {
    "content": {"application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA}, "multipart/form-data": {"schema": _FORM_SCHEMA}},
    "required": True,
}
_UNSUBSCRIBE_REFUSALS = ("400", "403", "404", "410", "413", "429")
# (method, path) -> summary, request body, answers besides 200 (an HTML page) and the refusals
UNSUBSCRIBE_ROUTES: dict[tuple[str, str], tuple[str, dict[str, Any] | None, tuple[str, ...]]] = {
    ("get", "/v1/unsubscribe"): ("The preference page of a signed unsubscribe link", None, ()),
    ("post", "/v1/unsubscribe"): ("RFC 8058 one-click unsubscribe, or the preference page's form", _FORM, ("409",)),
}


def _unsubscribe_operation(summary: str, body: dict[str, Any] | None, extra: tuple[str, ...]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": ["unsubscribe"],
        "security": [],
        "parameters": _TOKEN,
        "responses": {
            "200": {"description": DESCRIPTIONS["200"], "content": {"text/html": {"schema": {"type": "string"}}}},
            **_common_answers(_UNSUBSCRIBE_REFUSALS),
            **{status: _answer(status, {"type": "object"}) for status in extra},
        },
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def _answer(status: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": DESCRIPTIONS[status], "content": {"application/json": {"schema": schema}}}


def _common_answers(statuses: tuple[str, ...]) -> dict[str, Any]:
    return {status: _answer(status, FAILURE if status in ("400", "503") else GATEWAY_MESSAGE) for status in statuses}


def _admin_operation(summary: str, parameters: list[dict[str, Any]], body: dict[str, Any] | None,
                     extra: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": ["admin"],
        "security": [{"sigv4": []}],
        "parameters": parameters,
        "responses": {
            "200": _answer("200", {"type": "object"}),
            **_common_answers(("400", "403", "413", "429")),
            **{status: _answer(status, {"type": "object"}) for status in extra},
        },
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def completed_document(generated: dict[str, Any]) -> dict[str, Any]:
    """`generated` (Powertools' document) with the answers, security and admin routes the API really has."""
    document = copy.deepcopy(generated)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unsent in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unsent, None)
    schemas["Failure"] = FAILURE
    document["components"]["securitySchemes"] = SECURITY_SCHEMES
    batch_items = schemas["BatchRequest"]["properties"]["batch"]["items"]
    batch_items.clear()
    batch_items.update(
        {
            "oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in CALL_SCHEMAS],
            "discriminator": {"propertyName": "type"},
        }
    )
    for path, operations in document["paths"].items():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            if path == "/v1/openapi.json":
                operation["security"] = []
                operation["responses"].update(_common_answers(("429",)))
            elif path == "/v1/webhooks/shopify":
                operation["security"] = [{"shopifyHmac": []}]
                operation["responses"].update(_common_answers(("400", "401", "413", "429", "503")))
            else:
                operation["security"] = [{"writeKey": []}, {}]
                operation["responses"].update(_common_answers(("400", "401", "403", "413", "429")))
    for (method, path), route in ADMIN_ROUTES.items():
        document["paths"].setdefault(path, {})[method] = _admin_operation(*route)
    for (method, path), unsubscribe in UNSUBSCRIBE_ROUTES.items():
        document["paths"].setdefault(path, {})[method] = _unsubscribe_operation(*unsubscribe)
    return document
