"""The HTTP stage through the template-driven local stack: the Segment tracking routes, write keys in the Basic
header or the body, gzip, limits, partial batches, messageId replays, clock skew, the OpenAPI document and IAM
profile reads."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cdp_local.runner import create_local_source, http_api
from cdp_local.stack import LOCAL_CREDENTIALS, LocalStack
from cdp_local.template import function_events

CALLS = {
    "identify": {"userId": "W1", "traits": {"email": "web@example.com", "firstName": "Web"}},
    "track": {"userId": "W1", "event": "Product Viewed", "properties": {"product_id": "P1"}},
    "page": {"anonymousId": "a-1", "name": "Home", "properties": {"url": "https://shop.example.com/"}},
    "screen": {"anonymousId": "a-1", "name": "Basket"},
    "group": {"userId": "W1", "groupId": "G1", "traits": {"name": "Initech"}},
    "alias": {"userId": "W1", "previousId": "a-1"},
}


def _basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def _identify(message_id: str, user_id: str = "W1", **traits: object) -> dict:
    return {"type": "identify", "messageId": message_id, "userId": user_id,
            "timestamp": datetime.now(UTC).isoformat(), "traits": {"email": "web@example.com", **traits}}  # fmt: skip


@pytest.fixture
def api_and_key(stack: LocalStack):
    return http_api(stack), create_local_source(stack)


def _post(api, body: bytes | dict, authorization: str | None, path: str = "/v1/batch", **headers: str):
    sent = {"content-type": "application/json", "host": "localhost", **headers}
    if authorization:
        sent["authorization"] = authorization
    return api.handle("POST", path, sent, body if isinstance(body, bytes) else json.dumps(body).encode())


def _items(stack: LocalStack, table: str, prefix: str) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.physical_id(table))["Items"]
    return [item for item in items if item["pk"]["S"].startswith(prefix)]


def _profiles(stack: LocalStack) -> list[dict[str, Any]]:
    return [i for i in _items(stack, "ProfilesTable", "PROFILE#") if i["sk"]["S"] == "PROFILE"]


@pytest.mark.parametrize("call_type", sorted(CALLS))
def test_every_call_has_its_route_and_is_recorded_once(stack: LocalStack, api_and_key, call_type: str) -> None:
    # Given
    api, write_key = api_and_key
    call = {"messageId": f"{call_type}-1", **CALLS[call_type]}
    # When
    response = _post(api, call, _basic(write_key), f"/v1/{call_type}")
    # Then
    assert (response.status, json.loads(response.body)) == (200, {"success": True})
    assert [i["pk"]["S"] for i in _items(stack, "LedgerTable", "MESSAGEID#")] == [
        f"MESSAGEID#http:local-demo#{call_type}-1"
    ]


def test_tracking_needs_a_known_write_key_in_the_basic_header_or_the_body(api_and_key) -> None:
    # Given
    api, write_key = api_and_key
    call = {"userId": "W1", "event": "Product Viewed"}
    # When / Then
    assert _post(api, call, None, "/v1/track").status == 401
    assert _post(api, call, _basic("not-a-key"), "/v1/track").status == 403
    assert _post(api, call, "Bearer " + write_key, "/v1/track").status == 403
    assert _post(api, {**call, "writeKey": "not-a-key"}, None, "/v1/track").status == 403
    assert _post(api, call, _basic(write_key), "/v1/track").status == 200
    assert _post(api, {**call, "writeKey": write_key}, None, "/v1/track").status == 200
    assert _post(api, {"batch": [call | {"type": "track"}], "writeKey": write_key}, None).status == 200


def test_a_batch_is_applied_once_and_bad_calls_are_reported_by_index(stack: LocalStack, api_and_key) -> None:
    # Given: a good identify, a track without identity, a track without an event name, an unknown type,
    # a call over 32 KB and a track with a wrong type
    api, write_key = api_and_key
    recent = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    batch = {"batch": [
        _identify("m1", createdAt=recent, email_consent=True, firstName="Web"),
        {"type": "track", "messageId": "m2", "event": "Product Viewed"},
        {"type": "track", "messageId": "m3", "userId": "W1"},
        {"type": "purchase", "messageId": "m4", "userId": "W1"},
        {"type": "track", "messageId": "m5", "userId": "W1", "event": "Big", "properties": {"x": "y" * 33_000}},
        {"type": "track", "messageId": "m6", "userId": ["W1"], "event": "Product Viewed"},
    ]}  # fmt: skip
    body = gzip.compress(json.dumps(batch).encode())
    # When: posted gzip-encoded, twice (a client retry)
    first = _post(api, body, _basic(write_key), **{"content-encoding": "gzip"})
    again = _post(api, body, _basic(write_key), **{"content-encoding": "gzip"})
    stack.wait_for_executions(timeout=30)
    # Then
    answer = json.loads(first.body)
    assert first.status == 200
    assert (answer["success"], answer["accepted"], answer["duplicates"]) == (False, 1, [])
    assert [(r["index"], [e["field"] for e in r["errors"]]) for r in answer["rejected"]] == [
        (1, [""]), (2, ["event"]), (3, ["type"]), (4, [""]), (5, ["userId"]),
    ]  # fmt: skip
    replay = json.loads(again.body)
    assert (again.status, replay["accepted"], replay["duplicates"]) == (200, 0, [0])
    assert len(_profiles(stack)) == 1
    # Then: the web signup started the welcome journey once
    assert [e["status"] for e in stack.executions("WelcomeJourneyStateMachine")] == ["SUCCEEDED"]


def test_malformed_and_oversized_requests_get_clear_400s(api_and_key) -> None:
    # Given
    api, write_key = api_and_key
    key = _basic(write_key)
    big_batch = {"batch": [_identify(f"m{i}", note="x" * 30_000) for i in range(20)]}
    big_call = {"userId": "W1", "event": "Big", "properties": {"x": "y" * 33_000}}
    # When
    answers = {
        "not json": _post(api, b"{not json", key),
        "empty batch": _post(api, {"batch": []}, key),
        "batch over 500 KB": _post(api, big_batch, key),
        "call over 32 KB": _post(api, big_call, key, "/v1/track"),
        "gzip over 500 KB": _post(api, gzip.compress(json.dumps(big_batch).encode()), key,
                                  **{"content-encoding": "gzip"}),
        "bad gzip": _post(api, b"\x1f\x8b\x08garbage", key, **{"content-encoding": "gzip"}),
        "wrong type": _post(api, {"userId": 7, "event": ["x"]}, key, "/v1/track"),
    }  # fmt: skip
    # Then
    assert {name: response.status for name, response in answers.items()} == dict.fromkeys(answers, 400)
    assert "larger than 500 KB" in json.loads(answers["batch over 500 KB"].body)["error"]
    assert "larger than 32 KB" in json.loads(answers["call over 32 KB"].body)["error"]
    fields = json.loads(answers["wrong type"].body)["fields"]
    assert {field["field"] for field in fields} == {"userId", "event"}


def test_a_replay_inside_the_window_changes_nothing_and_after_it_is_new(stack: LocalStack, api_and_key) -> None:
    # Given: a track call already accepted
    api, write_key = api_and_key
    call = {"messageId": "r1", "userId": "W1", "event": "Product Viewed"}
    assert _post(api, call, _basic(write_key), "/v1/track").status == 200
    # When: replayed inside the window
    inside = json.loads(_post(api, call, _basic(write_key), "/v1/track").body)
    # and again once its window ended (the register item expired)
    register = _items(stack, "LedgerTable", "MESSAGEID#")[0]
    stack.client("dynamodb").update_item(
        TableName=stack.physical_id("LedgerTable"), Key={"pk": register["pk"], "sk": register["sk"]},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(datetime.now(UTC).timestamp()) - 1)}},
    )  # fmt: skip
    after = json.loads(_post(api, call, _basic(write_key), "/v1/track").body)
    # Then
    assert inside == {"success": True, "duplicate": True}
    assert after == {"success": True}
    renewed = _items(stack, "LedgerTable", "MESSAGEID#")[0]
    assert int(renewed["expires_at"]["N"]) > datetime.now(UTC).timestamp() + 6 * 86400  # default window: 7 days
    assert datetime.fromisoformat(renewed["received_at"]["S"]) > datetime.now(UTC) - timedelta(minutes=1)


def test_the_openapi_document_lists_every_route_of_the_function(stack: LocalStack, api_and_key) -> None:
    # Given
    api, _ = api_and_key
    routed = {
        (properties["Path"], properties["Method"].lower())
        for _, _, properties in function_events(stack.template, "HttpApi")
    }
    # When: read without credentials
    response = api.handle("GET", "/v1/openapi.json", {"host": "localhost"}, b"")
    # Then
    document = json.loads(response.body)
    listed = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert response.status == 200 and document["openapi"].startswith("3.")
    assert listed == routed and len(listed) >= 17
    track_body = document["paths"]["/v1/track"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert track_body["$ref"].endswith("/TrackCall")
    # Then: answers as sent (400 for invalid bodies, never 422), security schemes, typed batch items
    answers = {(path, method): set(operation["responses"])
               for path, methods in document["paths"].items() for method, operation in methods.items()}  # fmt: skip
    assert not any("422" in statuses for statuses in answers.values())
    assert {"400", "401", "403", "413"} <= answers[("/v1/batch", "post")]
    assert {"400", "401", "503"} <= answers[("/v1/webhooks/shopify", "post")]
    assert set(document["components"]["securitySchemes"]) == {"writeKey", "shopifyHmac", "sigv4"}
    schemas = document["components"]["schemas"]
    assert len(schemas["BatchRequest"]["properties"]["batch"]["items"]["oneOf"]) == 6
    assert [rule["required"] for rule in schemas["TrackCall"]["anyOf"]] == [["userId"], ["anonymousId"]]


def _signed_get(path: str, secret: str = LOCAL_CREDENTIALS[1]) -> dict[str, str]:
    request = AWSRequest(method="GET", url=f"http://localhost{path}", headers={"host": "localhost"})
    SigV4Auth(Credentials(LOCAL_CREDENTIALS[0], secret), "execute-api", "eu-west-1").add_auth(request)
    return dict(request.headers.items())


def test_profiles_are_read_with_an_iam_signature_only(stack: LocalStack, api_and_key) -> None:
    # Given: a profile made through the tracking API
    api, write_key = api_and_key
    _post(api, {"batch": [_identify("m1", firstName="Ada")]}, _basic(write_key))
    profile_id = _profiles(stack)[0]["profile_id"]["S"]
    path = f"/v1/profiles/{profile_id}"
    # When / Then
    assert api.handle("GET", path, {"host": "localhost"}, b"").status == 403
    assert api.handle("GET", path, _signed_get(path, secret="wrong"), b"").status == 403
    answer = api.handle("GET", path, _signed_get(path), b"")
    assert answer.status == 200
    assert '"first_name":"Ada"' in answer.body.decode().replace(" ", "")
    missing = "/v1/profiles/nobody"
    assert api.handle("GET", missing, _signed_get(missing), b"").status == 404


def test_the_sample_track_event_authenticates_with_its_body_write_key(stack: LocalStack) -> None:
    # Given: the write key the sample body carries belongs to a source, and the authorizer passed no source
    from cdp.adapters.sources import create_source
    from cdp_local.template import REPO_ROOT

    create_source(stack.physical_id("ProfilesTable"), "web", write_key="WRITE_KEY")
    event = json.loads((REPO_ROOT / "events" / "http_post_track.json").read_text())
    # When
    response = stack.invoke("TrackEventsFunction", event)
    # Then
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"success": True})
    assert [i["pk"]["S"] for i in _items(stack, "LedgerTable", "MESSAGEID#")] == [
        "MESSAGEID#http:web#022bb90c-bbac-11e4-8dfc-aa07a5b093dd"
    ]


def test_an_order_completed_is_recorded_per_product_at_its_skew_corrected_time(stack: LocalStack, api_and_key) -> None:
    # Given: a device clock one hour ahead, an order sent a minute after it happened
    api, write_key = api_and_key
    device_now = datetime.now(UTC) + timedelta(hours=1)
    call = {"messageId": "o1", "userId": "W1", "event": "Order Completed",
            "timestamp": (device_now - timedelta(minutes=1)).isoformat(), "sentAt": device_now.isoformat(),
            "properties": {"order_id": "O-1", "currency": "EUR", "products": [
                {"product_id": "P1", "price": 10, "quantity": 2}, {"product_id": "P2", "price": 5}]}}  # fmt: skip
    # When
    response = _post(api, call, _basic(write_key), "/v1/track")
    # Then: one ledger record per order line and one for the event, a minute before the server received it
    assert response.status == 200
    records = {i["pk"]["S"]: i["record"]["M"] for i in _items(stack, "LedgerTable", "RECORD#")}
    assert sorted(records) == ["RECORD#events#local-demo:o1", "RECORD#orders#O-1#P1", "RECORD#orders#O-1#P2"]
    occurred_at = datetime.fromisoformat(records["RECORD#events#local-demo:o1"]["occurred_at"]["S"])
    assert timedelta(seconds=50) < datetime.now(UTC) - occurred_at < timedelta(seconds=70)
    assert records["RECORD#orders#O-1#P1"]["line_amount"]["N"] == "20"


def test_alias_links_the_anonymous_visitor_to_the_customer(stack: LocalStack, api_and_key) -> None:
    # Given: an anonymous visitor and a signed-up customer, each with a profile
    api, write_key = api_and_key
    _post(api, {"anonymousId": "anon-1", "name": "Home"}, _basic(write_key), "/v1/page")
    _post(api, {"userId": "W1", "traits": {"firstName": "Ada"}}, _basic(write_key), "/v1/identify")
    # When
    response = _post(api, {"userId": "W1", "previousId": "anon-1"}, _basic(write_key), "/v1/alias")
    # Then: both identifiers resolve to one profile
    assert response.status == 200
    owners = {i["pk"]["S"]: i["profile_id"]["S"] for i in _items(stack, "ProfilesTable", "IDENTITY#")}
    assert owners["IDENTITY#anonymous_id#anon-1"] == owners["IDENTITY#customer_id#W1"]
