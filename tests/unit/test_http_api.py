"""The local HTTP API: template routes, payload format 2.0 events, authorizers, SigV4 and the server."""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cdp_local.http_api import MAX_PAYLOAD_BYTES, HttpResponse, LocalHttpApi, make_server, serve
from cdp_local.template import load_template, parse_template

CREDENTIALS = ("local-access-key", "local-secret-key")
REGION = "eu-west-1"
HOST = "localhost:3000"
WRITE_KEY_AUTHORIZATION = "Basic " + base64.b64encode(b"write-key:").decode()
ALLOWED = {"isAuthorized": True, "context": {"source_id": "web"}}
TRACKED = {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": '{"accepted": 1}'}
PROFILE = {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": '{"id": "p-1"}'}


class RecordingLambdas:
    """A fake `invoke`: records every (function, event) and answers with a canned result or exception."""

    def __init__(self, **answers: Any) -> None:
        self.answers = {
            "AuthorizeWriteKeyFunction": ALLOWED,
            "TrackEventsFunction": TRACKED,
            "GetProfileFunction": PROFILE,
            **answers,
        }
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, function: str, event: dict[str, Any]) -> Any:
        self.calls.append((function, event))
        answer = self.answers[function]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def events_of(self, function: str) -> list[dict[str, Any]]:
        return [event for called, event in self.calls if called == function]


def _api(lambdas: RecordingLambdas, template: dict[str, Any] | None = None) -> LocalHttpApi:
    return LocalHttpApi(template or load_template(), lambdas, CREDENTIALS, REGION)


def _post_batch(api: LocalHttpApi, body: bytes = b'{"batch": []}', **headers: str) -> HttpResponse:
    sent = {
        "Host": HOST,
        "Authorization": WRITE_KEY_AUTHORIZATION,
        "Content-Type": "application/json",
        **headers,
    }
    return api.handle("POST", "/v1/batch", sent, body)


def _signed_headers(
    method: str,
    path: str,
    body: bytes = b"",
    credentials: tuple[str, str] = CREDENTIALS,
    signed_at: datetime | None = None,
    region: str = REGION,
) -> dict[str, str]:
    """Headers of a request signed by botocore for execute-api, as an SDK would send it."""
    request = AWSRequest(method=method, url=f"http://{HOST}{path}", data=body, headers={"Host": HOST})
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at or datetime.now(UTC)):
        SigV4Auth(Credentials(*credentials), "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def _message(response: HttpResponse) -> str:
    return json.loads(response.body)["message"]


# ---------------------------------------------------------------------------------------------- routing
def test_the_template_routes_reach_their_functions() -> None:
    # Given
    lambdas = RecordingLambdas()
    api = _api(lambdas)
    # When
    batch = _post_batch(api)
    profile = api.handle("GET", "/v1/profiles/p-1", _signed_headers("GET", "/v1/profiles/p-1"), b"")
    # Then
    assert (batch.status, batch.body) == (200, b'{"accepted": 1}')
    assert (profile.status, json.loads(profile.body)) == (200, {"id": "p-1"})
    assert [function for function, _ in lambdas.calls] == [
        "AuthorizeWriteKeyFunction",
        "TrackEventsFunction",
        "GetProfileFunction",
    ]


@pytest.mark.parametrize("call", ["identify", "track", "page", "screen", "group", "alias", "batch"])
def test_every_tracking_route_goes_through_the_write_key_authorizer(call: str) -> None:
    # Given
    lambdas = RecordingLambdas()
    headers = {"Host": HOST, "Authorization": WRITE_KEY_AUTHORIZATION}
    # When
    response = _api(lambdas).handle("POST", f"/v1/{call}", headers, b"{}")
    # Then
    assert response.status == 200
    assert [function for function, _ in lambdas.calls] == ["AuthorizeWriteKeyFunction", "TrackEventsFunction"]


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/webhooks/shopify"), ("GET", "/v1/openapi.json")])
def test_webhooks_and_the_openapi_document_need_no_authorizer(method: str, path: str) -> None:
    # Given
    lambdas = RecordingLambdas()
    # When
    response = _api(lambdas).handle(method, path, {"Host": HOST}, b"")
    # Then
    assert response.status == 200
    assert [function for function, _ in lambdas.calls] == ["TrackEventsFunction"]
    assert "authorizer" not in lambdas.events_of("TrackEventsFunction")[0]["requestContext"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/batch"),
        ("POST", "/v1/batch/"),
        ("GET", "/v1/profiles"),
        ("GET", "/v1/profiles/p-1/x"),
        ("PUT", "/v1/profiles/p-1"),
        ("GET", "/"),
    ],
)
def test_a_request_no_route_takes_is_404_not_found_without_invoking_anything(method: str, path: str) -> None:
    # Given
    lambdas = RecordingLambdas()
    # When
    response = _api(lambdas).handle(method, path, {"Host": HOST}, b"")
    # Then
    assert (response.status, response.headers["content-type"], _message(response)) == (
        404,
        "application/json",
        "Not Found",
    )
    assert lambdas.calls == []


def test_greedy_variables_named_methods_and_any_are_matched_most_specific_first() -> None:
    # Given: a template with an exact route, a GET and an ANY variant, and a greedy one
    template = parse_template("""
Resources:
  Api: {Type: AWS::Serverless::HttpApi}
  Files:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Readme: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /files/readme, Method: get}}
        AnyReadme: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /files/readme, Method: ANY}}
        Everything: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/files/{proxy+}", Method: GET}}
""")
    lambdas = RecordingLambdas(Files={"ok": True})
    api = _api(lambdas, template)
    # When
    for method, path in [("GET", "/files/readme"), ("PUT", "/files/readme"), ("GET", "/files/a/b%20c.txt")]:
        api.handle(method, path, {"Host": HOST}, b"")
    # Then
    assert [(event["routeKey"], event.get("pathParameters")) for event in lambdas.events_of("Files")] == [
        ("GET /files/readme", None),
        ("ANY /files/readme", None),
        ("GET /files/{proxy+}", {"proxy": "a/b c.txt"}),
    ]


# ---------------------------------------------------------------------------------------------- events
def test_the_event_is_payload_format_2_0() -> None:
    # Given
    lambdas = RecordingLambdas()
    headers = {
        "Host": HOST,
        "Authorization": WRITE_KEY_AUTHORIZATION,
        "User-Agent": "analytics-python/2.3",
        "X-Custom": "a",
        "x-custom": "b",
        "Cookie": "ajs_user_id=u1; ajs_anonymous_id=a1",
    }
    before = datetime.now(UTC)
    # When
    response = _api(lambdas).handle("POST", "/v1/batch?debug=1", headers, b'{"batch": []}', "127.0.0.9")
    # Then
    event = lambdas.events_of("TrackEventsFunction")[0]
    context = event["requestContext"]
    assert {key: value for key, value in event.items() if key != "requestContext"} == {
        "version": "2.0",
        "routeKey": "POST /v1/batch",
        "rawPath": "/v1/batch",
        "rawQueryString": "debug=1",
        "cookies": ["ajs_user_id=u1", "ajs_anonymous_id=a1"],
        "headers": {
            "host": HOST,
            "authorization": WRITE_KEY_AUTHORIZATION,
            "user-agent": "analytics-python/2.3",
            "x-custom": "a,b",
            "cookie": "ajs_user_id=u1; ajs_anonymous_id=a1",
        },
        "queryStringParameters": {"debug": "1"},
        "body": '{"batch": []}',
        "isBase64Encoded": False,
    }
    assert {
        key: value for key, value in context.items() if key not in ("requestId", "time", "timeEpoch")
    } == {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "http": {
            "method": "POST",
            "path": "/v1/batch",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.9",
            "userAgent": "analytics-python/2.3",
        },
        "routeKey": "POST /v1/batch",
        "stage": "$default",
        "authorizer": {"lambda": {"source_id": "web"}},
    }
    assert uuid.UUID(context["requestId"]) and response.headers["apigw-requestid"] == context["requestId"]
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert before.timestamp() * 1000 - 1 <= context["timeEpoch"] <= datetime.now(UTC).timestamp() * 1000


def test_path_and_query_string_parameters_are_decoded_and_repeats_joined_with_commas() -> None:
    # Given
    lambdas = RecordingLambdas()
    path = "/v1/profiles/ada%40example.com?fields=email&fields=phone&q=a%20b&empty="
    # When
    _api(lambdas).handle("GET", path, _signed_headers("GET", path), b"")
    # Then
    event = lambdas.events_of("GetProfileFunction")[0]
    assert event["rawPath"] == "/v1/profiles/ada%40example.com"
    assert event["rawQueryString"] == "fields=email&fields=phone&q=a%20b&empty="
    assert event["pathParameters"] == {"id": "ada@example.com"}
    assert event["queryStringParameters"] == {"fields": "email,phone", "q": "a b", "empty": ""}
    assert "body" not in event and event["isBase64Encoded"] is False and "stageVariables" not in event


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"\x00\xff\xfe binary", {}),
        (gzip.compress(b'{"batch": []}', mtime=0), {"Content-Encoding": "gzip"}),
        (b'{"batch": []}', {"Content-Encoding": "br"}),
    ],
)
def test_binary_and_encoded_bodies_are_base64(body: bytes, headers: dict[str, str]) -> None:
    # Given
    lambdas = RecordingLambdas()
    # When
    _post_batch(_api(lambdas), body, **headers)
    # Then
    event = lambdas.events_of("TrackEventsFunction")[0]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_payloads_over_10_mb_are_refused_with_413() -> None:
    # Given
    lambdas = RecordingLambdas()
    api = _api(lambdas)
    # When
    at_limit = _post_batch(api, b"x" * MAX_PAYLOAD_BYTES)
    over = _post_batch(api, b"x" * (MAX_PAYLOAD_BYTES + 1))
    # Then
    assert at_limit.status == 200
    assert (over.status, _message(over)) == (413, "Request Entity Too Large")
    assert len(lambdas.events_of("TrackEventsFunction")) == 1


# ---------------------------------------------------------------------------------------------- responses
def test_a_function_response_maps_status_headers_base64_body_and_cookies() -> None:
    # Given
    lambdas = RecordingLambdas(
        TrackEventsFunction={
            "statusCode": 201,
            "headers": {"X-Count": 3},
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
            "cookies": ["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"],
        }
    )
    # When
    response = _post_batch(_api(lambdas))
    # Then
    assert (response.status, response.body, response.headers["X-Count"]) == (201, b"\x89PNG", "3")
    assert response.cookies == ("a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT")


@pytest.mark.parametrize(
    ("result", "body"),
    [
        ({"accepted": 1}, b'{"accepted": 1}'),
        (["a", 1], b'["a", 1]'),
        ("Hello from Lambda!", b"Hello from Lambda!"),
    ],
)
def test_a_result_without_status_code_is_inferred_as_200_json(result: Any, body: bytes) -> None:
    # Given
    lambdas = RecordingLambdas(TrackEventsFunction=result)
    # When
    response = _post_batch(_api(lambdas))
    # Then
    assert (response.status, response.headers["content-type"], response.body) == (
        200,
        "application/json",
        body,
    )


@pytest.mark.parametrize(
    "failure", [RuntimeError("boom"), {"statusCode": "not a number"}, {"statusCode": 200, "body": {}}]
)
def test_a_failing_function_or_malformed_response_is_500_and_logged(
    failure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given
    lambdas = RecordingLambdas(TrackEventsFunction=failure)
    # When
    response = _post_batch(_api(lambdas))
    # Then
    assert (response.status, _message(response)) == (500, "Internal Server Error")
    assert "POST /v1/batch failed" in caplog.text and "Traceback" in caplog.text


# ------------------------------------------------------------------------------------------ Lambda authorizer
def test_the_lambda_authorizer_gets_a_request_event_without_the_body() -> None:
    # Given
    lambdas = RecordingLambdas()
    # When
    _post_batch(_api(lambdas), b'{"batch": []}')
    # Then
    authorizer_event = lambdas.events_of("AuthorizeWriteKeyFunction")[0]
    assert authorizer_event["type"] == "REQUEST"
    assert (
        authorizer_event["routeArn"]
        == "arn:aws:execute-api:eu-west-1:123456789012:local/$default/POST/v1/batch"
    )
    assert authorizer_event["identitySource"] == []  # none configured: body write keys must reach the function
    assert authorizer_event["headers"]["authorization"] == WRITE_KEY_AUTHORIZATION
    assert authorizer_event["version"] == "2.0" and authorizer_event["routeKey"] == "POST /v1/batch"
    assert "body" not in authorizer_event and "authorizer" not in authorizer_event["requestContext"]


def test_a_request_the_authorizer_refuses_is_403_forbidden() -> None:
    # Given
    lambdas = RecordingLambdas(AuthorizeWriteKeyFunction={"isAuthorized": False})
    # When
    response = _post_batch(_api(lambdas))
    # Then
    assert (response.status, _message(response)) == (403, "Forbidden")
    assert lambdas.events_of("TrackEventsFunction") == []


def test_a_missing_identity_source_is_401_without_calling_the_authorizer() -> None:
    # Given: an authorizer whose identity source is the Authorization header
    lambdas = RecordingLambdas()
    template = json.loads(json.dumps(load_template()))
    template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["WriteKeyAuthorizer"]["Identity"] = {
        "Headers": ["Authorization"]
    }
    # When
    response = _api(lambdas, template).handle("POST", "/v1/batch", {"Host": HOST}, b"{}")
    # Then
    assert (response.status, _message(response)) == (401, "Unauthorized")
    assert lambdas.calls == []


@pytest.mark.parametrize("answer", [RuntimeError("table missing"), {"context": {}}, {"isAuthorized": "yes"}])
def test_an_authorizer_that_fails_or_answers_malformed_is_500(answer: Any) -> None:
    # Given
    lambdas = RecordingLambdas(AuthorizeWriteKeyFunction=answer)
    # When
    response = _post_batch(_api(lambdas))
    # Then
    assert (response.status, _message(response)) == (500, "Internal Server Error")
    assert lambdas.events_of("TrackEventsFunction") == []


def test_only_simple_response_authorizers_of_payload_2_0_are_accepted() -> None:
    # Given
    template = json.loads(json.dumps(load_template()))
    template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["WriteKeyAuthorizer"][
        "EnableSimpleResponses"
    ] = False
    # When / Then
    with pytest.raises(ValueError, match="simple responses"):
        _api(RecordingLambdas(), template)


# ---------------------------------------------------------------------------------------------- IAM (SigV4)
@pytest.mark.parametrize("clock_skew", [timedelta(0), timedelta(minutes=4), timedelta(minutes=-4)])
def test_a_valid_signature_passes_the_caller_identity_to_the_function(clock_skew: timedelta) -> None:
    # Given: a request signed by botocore, on a client whose clock may be a few minutes off
    lambdas = RecordingLambdas()
    signed = _signed_headers("GET", "/v1/profiles/p-1", signed_at=datetime.now(UTC) + clock_skew)
    headers = {**signed, "User-Agent": "curl/8"}
    # When
    response = _api(lambdas).handle("GET", "/v1/profiles/p-1", headers, b"")
    # Then
    assert response.status == 200
    assert lambdas.events_of("GetProfileFunction")[0]["requestContext"]["authorizer"] == {
        "iam": {
            "accessKey": CREDENTIALS[0],
            "accountId": "123456789012",
            "callerId": "local",
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": "arn:aws:iam::123456789012:user/local",
            "userId": "local",
        }
    }


def test_a_signature_over_a_body_covers_that_body() -> None:
    # Given
    lambdas = RecordingLambdas()
    api = _api(lambdas)
    headers = _signed_headers("GET", "/v1/profiles/p-1", body=b'{"a": 1}')
    # When
    original = api.handle("GET", "/v1/profiles/p-1", headers, b'{"a": 1}')
    tampered = api.handle("GET", "/v1/profiles/p-1", headers, b'{"a": 2}')
    # Then
    assert original.status == 200
    assert (tampered.status, tampered.headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    assert _message(tampered).startswith("The request signature we calculated does not match")
    assert len(lambdas.events_of("GetProfileFunction")) == 1


@pytest.mark.parametrize(
    ("sign", "error_type", "message"),
    [
        (dict, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        (
            lambda: _signed_headers("GET", "/v1/profiles/p-1", credentials=(CREDENTIALS[0], "wrong secret")),
            "InvalidSignatureException",
            "The request signature we calculated does not match",
        ),
        (
            lambda: _signed_headers("GET", "/v1/profiles/p-2"),
            "InvalidSignatureException",
            "The request signature we calculated does not match",
        ),
        (
            lambda: _signed_headers("GET", "/v1/profiles/p-1", credentials=("someone-else", CREDENTIALS[1])),
            "AccessDeniedException",
            "The security token included in the request is invalid.",
        ),
        (
            lambda: _signed_headers("GET", "/v1/profiles/p-1", region="us-east-1"),
            "InvalidSignatureException",
            "Credential should be scoped to a valid region.",
        ),
        (
            lambda: {"Authorization": WRITE_KEY_AUTHORIZATION},
            "IncompleteSignatureException",
            "Authorization header requires 'Credential' parameter.",
        ),
    ],
)
def test_iam_routes_refuse_requests_not_signed_right(
    sign: Callable[[], dict[str, str]], error_type: str, message: str
) -> None:
    # Given
    lambdas = RecordingLambdas()
    headers = {"Host": HOST, **sign()}
    # When
    response = _api(lambdas).handle("GET", "/v1/profiles/p-1", headers, b"")
    # Then
    assert (response.status, response.headers["x-amzn-errortype"]) == (403, error_type)
    assert _message(response).startswith(message)
    assert lambdas.calls == []


@pytest.mark.parametrize(
    ("age", "message"),
    [
        (timedelta(minutes=6), "Signature expired: "),
        (timedelta(minutes=-6), "Signature not yet current: "),
    ],
)
def test_signatures_older_or_newer_than_five_minutes_are_refused(age: timedelta, message: str) -> None:
    # Given
    headers = _signed_headers("GET", "/v1/profiles/p-1", signed_at=datetime.now(UTC) - age)
    # When
    response = _api(RecordingLambdas()).handle("GET", "/v1/profiles/p-1", headers, b"")
    # Then
    assert (response.status, response.headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    assert _message(response).startswith(message)


# ---------------------------------------------------------------------------------------------- the server
@pytest.fixture
def running_server() -> Iterator[tuple[str, RecordingLambdas]]:
    lambdas = RecordingLambdas()
    server = make_server(_api(lambdas), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", lambdas
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_server_answers_real_http_requests_and_keeps_serving_after_a_failure(running_server) -> None:
    # Given: a server on loopback whose tracking function fails once
    address, lambdas = running_server
    lambdas.answers["TrackEventsFunction"] = RuntimeError("boom")

    def post() -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://{address}/v1/batch?x=1",
            data=b'{"batch": []}',
            method="POST",
            headers={"Authorization": WRITE_KEY_AUTHORIZATION},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    # When
    failed = post()
    lambdas.answers["TrackEventsFunction"] = TRACKED
    succeeded = post()
    # Then
    assert failed == (500, b'{"message": "Internal Server Error"}')
    assert succeeded == (200, b'{"accepted": 1}')
    event = lambdas.events_of("TrackEventsFunction")[-1]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert (event["headers"]["host"], event["rawQueryString"], event["body"]) == (
        address,
        "x=1",
        '{"batch": []}',
    )


def test_the_server_reads_chunked_bodies_and_sends_each_cookie_as_a_header(running_server) -> None:
    # Given
    address, lambdas = running_server
    lambdas.answers["TrackEventsFunction"] = {"statusCode": 204, "cookies": ["a=1", "b=2"]}
    connection = http.client.HTTPConnection(address, timeout=5)
    # When
    connection.request(
        "POST",
        "/v1/batch",
        body=iter([b'{"batch"', b": []}"]),
        encode_chunked=True,
        headers={"Authorization": WRITE_KEY_AUTHORIZATION, "Transfer-Encoding": "chunked"},
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    # Then
    assert response.status == 204
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert lambdas.events_of("TrackEventsFunction")[0]["body"] == '{"batch": []}'


def _raw_exchange(address: str, request: bytes) -> bytes:
    """Send raw bytes and read the answer until the server closes the connection."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: -5\r\n\r\n",
        b"Content-Length: abc\r\n\r\n",
        b"Content-Length: +5\r\n\r\nhello",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n\r\n",
    ],
)
def test_a_body_length_that_is_not_a_number_is_400_and_the_connection_closed(running_server, framing: bytes) -> None:
    # Given
    address, lambdas = running_server
    request = f"POST /v1/batch HTTP/1.1\r\nHost: {address}\r\nAuthorization: {WRITE_KEY_AUTHORIZATION}\r\n"
    # When
    answer = _raw_exchange(address, request.encode() + framing)
    # Then
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert lambdas.events_of("TrackEventsFunction") == []


def test_the_server_logs_the_route_not_the_query(running_server, caplog: pytest.LogCaptureFixture) -> None:
    # Given
    address, _ = running_server
    caplog.set_level(logging.INFO, logger="cdp_local.http_api")
    # When: a lookup by email
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://{address}/v1/profiles/lookup?email=ada%40example.com", timeout=5).read()
    # Then: (the line is written once the answer is sent)
    deadline = time.monotonic() + 5
    while "/v1/profiles/lookup" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "/v1/profiles/lookup" in caplog.text
    assert "ada" not in caplog.text and "email" not in caplog.text


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_the_server_refuses_to_listen_beyond_loopback(host: str) -> None:
    # Given
    api = _api(RecordingLambdas())
    # When / Then
    with pytest.raises(ValueError, match="loopback"):
        make_server(api, host, 0)
    with pytest.raises(ValueError, match="loopback"):
        serve(api, host, 0)
