"""The HTTP stage through the template-driven local stack: write-key auth, tracking batches, IAM profile reads."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cdp_local.runner import create_local_source, http_api
from cdp_local.stack import LOCAL_CREDENTIALS, LocalStack


def _basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def _identify(message_id: str, user_id: str = "W1", **traits: object) -> dict:
    return {"type": "identify", "messageId": message_id, "userId": user_id,
            "timestamp": datetime.now(UTC).isoformat(), "traits": {"email": "web@example.com", **traits}}


@pytest.fixture
def api_and_key(stack: LocalStack):
    return http_api(stack), create_local_source(stack)


def _post(api, body: bytes, authorization: str | None, **headers: str):
    sent = {"content-type": "application/json", "host": "localhost", **headers}
    if authorization:
        sent["authorization"] = authorization
    return api.handle("POST", "/v1/batch", sent, body)


def test_tracking_needs_a_known_write_key(api_and_key) -> None:
    # Given
    api, write_key = api_and_key
    body = json.dumps({"batch": [_identify("m1")]}).encode()
    # When / Then
    assert _post(api, body, None).status == 401
    assert _post(api, body, _basic("not-a-key")).status == 403
    assert _post(api, body, "Bearer " + write_key).status == 403
    assert _post(api, body, _basic(write_key)).status == 200


def test_a_batch_is_applied_once_and_bad_messages_are_reported_by_index(stack: LocalStack, api_and_key) -> None:
    # Given: a batch with a good identify, a track without identity and a track without an event name
    api, write_key = api_and_key
    recent = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    batch = {"batch": [
        _identify("m1", createdAt=recent, email_consent=True, firstName="Web"),
        {"type": "track", "messageId": "m2", "event": "Product Viewed"},
        {"type": "track", "messageId": "m3", "userId": "W1"},
    ]}
    body = gzip.compress(json.dumps(batch).encode())
    # When: posted gzip-encoded, twice (a client retry)
    first = _post(api, body, _basic(write_key), **{"content-encoding": "gzip"})
    again = _post(api, body, _basic(write_key), **{"content-encoding": "gzip"})
    stack.wait_for_executions(timeout=30)
    # Then
    answer = json.loads(first.body)
    assert first.status == 200
    assert (answer["accepted"], [r["index"] for r in answer["rejected"]]) == (1, [1, 2])
    assert json.loads(again.body)["duplicates"] == 1
    profiles = [i for i in stack.client("dynamodb").scan(TableName=stack.physical_id("ProfilesTable"))["Items"]
                if i["sk"]["S"] == "PROFILE"]
    assert len(profiles) == 1
    # Then: the web signup started the welcome journey, which emailed once
    assert [e["status"] for e in stack.executions("WelcomeJourneyStateMachine")] == ["SUCCEEDED"]


def test_malformed_and_oversized_batches_get_clear_errors(api_and_key) -> None:
    # Given
    api, write_key = api_and_key
    big = {"batch": [_identify(f"m{i}", note="x" * 30_000) for i in range(20)]}
    # When / Then
    assert _post(api, b"{not json", _basic(write_key)).status == 400
    assert _post(api, b'{"batch": []}', _basic(write_key)).status == 400
    assert _post(api, json.dumps(big).encode(), _basic(write_key)).status == 413
    assert _post(api, b"\x1f\x8b\x08garbage", _basic(write_key), **{"content-encoding": "gzip"}).status == 400


def _signed_get(path: str, secret: str = LOCAL_CREDENTIALS[1]) -> dict[str, str]:
    request = AWSRequest(method="GET", url=f"http://localhost{path}", headers={"host": "localhost"})
    SigV4Auth(Credentials(LOCAL_CREDENTIALS[0], secret), "execute-api", "eu-west-1").add_auth(request)
    return dict(request.headers.items())


def test_profiles_are_read_with_an_iam_signature_only(stack: LocalStack, api_and_key) -> None:
    # Given: a profile made through the tracking API
    api, write_key = api_and_key
    _post(api, json.dumps({"batch": [_identify("m1")]}).encode(), _basic(write_key))
    profile_id = next(i["profile_id"]["S"] for i in stack.client("dynamodb").scan(
        TableName=stack.physical_id("ProfilesTable"))["Items"] if i["sk"]["S"] == "PROFILE")
    path = f"/v1/profiles/{profile_id}"
    # When / Then
    assert api.handle("GET", path, {"host": "localhost"}, b"").status == 403
    assert api.handle("GET", path, _signed_get(path, secret="wrong"), b"").status == 403
    answer = api.handle("GET", path, _signed_get(path), b"")
    assert answer.status == 200
    assert json.loads(answer.body)["email"] == "web@example.com"
    missing = "/v1/profiles/nobody"
    assert api.handle("GET", missing, _signed_get(missing), b"").status == 404
