"""The template's HTTP API (API Gateway v2) on localhost: routes, authorizers and payload format 2.0 events."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cdp_local.template import function_events, resources_of_type

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
SIGNATURE_MAX_SKEW = timedelta(minutes=15)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    authorizer: str
    pattern: re.Pattern[str]


def _json_response(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps({"message": message}).encode())


def _route_pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", path)
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex) + "$")


class LocalHttpApi:
    """Answers HTTP requests as the deployed HTTP API would, invoking the handlers the template routes to."""

    def __init__(self, template: dict[str, Any], invoke: Callable[[str, dict[str, Any]], Any],
                 credentials: tuple[str, str], region: str, account_id: str = "123456789012") -> None:
        self.invoke = invoke
        self.credentials = Credentials(*credentials)
        self.region = region
        self.account_id = account_id
        apis = resources_of_type(template, "AWS::Serverless::HttpApi")
        self.authorizers = {name: spec for api in apis.values()
                            for name, spec in api["Properties"].get("Auth", {}).get("Authorizers", {}).items()}
        default = {logical: api["Properties"].get("Auth", {}).get("DefaultAuthorizer", "NONE") for logical, api in apis.items()}
        self.routes = [
            Route(properties["Method"].upper(), properties["Path"], function,
                  properties.get("Auth", {}).get("Authorizer") or default.get(properties["ApiId"]["Ref"], "NONE"),
                  _route_pattern(properties["Path"]))
            for function, _name, properties in function_events(template, "HttpApi")
            if properties.get("ApiId", {}).get("Ref") in apis
        ]

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes,
               source_ip: str = "127.0.0.1") -> HttpResponse:
        try:
            return self._handle(method.upper(), raw_path, {k.lower(): v for k, v in headers.items()}, body, source_ip)
        except Exception:  # API Gateway answers 500 and keeps serving
            log.exception("integration failed")
            return _json_response(500, "Internal Server Error")

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str) -> HttpResponse:
        if len(body) > MAX_PAYLOAD_BYTES:
            return _json_response(413, "Request Entity Too Large")
        url = urlsplit(raw_path)
        for route in self.routes:
            match = route.pattern.match(url.path)
            if match and route.method in (method, "ANY"):
                break
        else:
            return _json_response(404, "Not Found")
        event = self._event(route, method, url.path, url.query, headers, body, source_ip, match.groupdict())
        if route.authorizer == "AWS_IAM":
            if not self._signature_is_valid(method, raw_path, headers, body):
                return _json_response(403, "Forbidden")
            event["requestContext"]["authorizer"] = {"iam": {"accessKey": self.credentials.access_key,
                                                             "accountId": self.account_id, "callerId": "local",
                                                             "userArn": f"arn:aws:iam::{self.account_id}:user/local",
                                                             "userId": "local", "principalOrgId": None}}
        elif route.authorizer != "NONE":
            denied = self._authorize(route, event)
            if denied:
                return denied
        return self._response(self.invoke(route.function, event))

    def _event(self, route: Route, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
               source_ip: str, path_parameters: dict[str, str]) -> dict[str, Any]:
        binary = headers.get("content-encoding", "") not in ("", "identity")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            binary = True
        now = datetime.now(UTC)
        event: dict[str, Any] = {
            "version": "2.0", "routeKey": f"{route.method} {route.path}", "rawPath": path, "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": self.account_id, "apiId": "local", "domainName": headers.get("host", "localhost"),
                "domainPrefix": headers.get("host", "localhost").split(".")[0],
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                         "userAgent": headers.get("user-agent", "")},
                "requestId": str(uuid.uuid4()), "routeKey": f"{route.method} {route.path}", "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": binary,
        }
        if "cookie" in headers:
            event["cookies"] = [cookie.strip() for cookie in headers["cookie"].split(";")]
        if query:
            event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
        if path_parameters:
            event["pathParameters"] = path_parameters
        if body:
            event["body"] = base64.b64encode(body).decode() if binary else text
        return event

    def _authorize(self, route: Route, event: dict[str, Any]) -> HttpResponse | None:
        """A Lambda REQUEST authorizer, payload 2.0 with simple responses."""
        authorizer = self.authorizers[route.authorizer]
        identity_headers = [name.lower() for name in authorizer.get("Identity", {}).get("Headers", [])]
        if any(name not in event["headers"] for name in identity_headers):
            return _json_response(401, "Unauthorized")
        request = {**event, "type": "REQUEST", "identitySource": [event["headers"][name] for name in identity_headers],
                   "routeArn": f"arn:aws:execute-api:{self.region}:{self.account_id}:local/$default/{route.method}{route.path}"}
        result = self.invoke(authorizer["FunctionArn"]["Fn::GetAtt"][0], request)
        if not result.get("isAuthorized"):
            return _json_response(403, "Forbidden")
        event["requestContext"]["authorizer"] = {"lambda": result.get("context") or {}}
        return None

    def _signature_is_valid(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> bool:
        """Recompute the SigV4 signature for execute-api with the local credentials; compare in constant time."""
        authorization = headers.get("authorization", "")
        match = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/[^,]+, ?SignedHeaders=([^,]+), ?Signature=(\w+)", authorization)
        if not match or match.group(1) != self.credentials.access_key or "x-amz-date" not in headers:
            return False
        signed_at = datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - signed_at) > SIGNATURE_MAX_SKEW:
            return False
        signed = {name: headers.get(name, "") for name in match.group(2).split(";")}
        request = AWSRequest(method=method, url=f"http://{headers.get('host', 'localhost')}{raw_path}", data=body,
                             headers={k: v for k, v in signed.items() if k != "authorization"})
        signer = SigV4Auth(self.credentials, "execute-api", self.region)
        request.context["timestamp"] = headers["x-amz-date"]
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        return hmac.compare_digest(expected, match.group(3))

    @staticmethod
    def _response(result: Any) -> HttpResponse:
        """Payload format 2.0 response mapping, including the inference for results without a statusCode."""
        if not isinstance(result, dict) or "statusCode" not in result:
            return HttpResponse(200, {"content-type": "application/json"}, json.dumps(result).encode())
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        if result.get("cookies"):
            headers["set-cookie"] = ", ".join(result["cookies"])
        return HttpResponse(int(result["statusCode"]), headers, data)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(api: LocalHttpApi, host: str = "127.0.0.1", port: int = 3000) -> ThreadingHTTPServer:
    """An HTTP server (not started) bound to a loopback address only."""
    if not _is_loopback(host):
        raise ValueError(f"refusing to serve on {host}: the local API listens on loopback addresses only")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            started = time.monotonic()
            response = api.handle(self.command, self.path, dict(self.headers.items()), self.rfile.read(length),
                                  self.client_address[0])
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            log.info("%s %s -> %s in %.0f ms", self.command, self.path, response.status, (time.monotonic() - started) * 1000)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
            return

    return ThreadingHTTPServer((host, port), Handler)


def serve(api: LocalHttpApi, host: str = "127.0.0.1", port: int = 3000) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with make_server(api, host, port) as server:
        server.serve_forever()
