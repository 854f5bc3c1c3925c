"""The template's HTTP API (API Gateway v2) on localhost: routes, authorizers, payload format 2.0."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from cdp_local.template import function_events, resources_of_type

API_ID = "local"
STAGE = "$default"
DEFAULT_ROUTE = "$default"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # HTTP API quota "Payload size: 10 MB"
SIGNATURE_VALIDITY = timedelta(minutes=5)  # "a request must reach AWS within five minutes of the time stamp"
SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
SIGV4_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
EXECUTE_API = "execute-api"
LOCAL_IAM_USER = "local"

log = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class HttpResponse:
    """What the API answers; each cookie becomes its own Set-Cookie header, as API Gateway sends them."""

    status: int
    headers: dict[str, str]
    body: bytes
    cookies: tuple[str, ...] = ()


class GatewayRejection(Exception):
    """API Gateway answers by itself (no route, refused authorization, ...) without invoking the route."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        headers = {"content-type": "application/json"}
        if error_type:
            headers["x-amzn-errortype"] = error_type
        self.response = HttpResponse(status, headers, json.dumps({"message": message}).encode())


def _internal_server_error() -> HttpResponse:
    return GatewayRejection(500, "Internal Server Error").response


def _invalid_signature(message: str) -> GatewayRejection:
    return GatewayRejection(403, message, "InvalidSignatureException")


def _incomplete_signature(message: str) -> GatewayRejection:
    return GatewayRejection(403, message, "IncompleteSignatureException")


# ---------------------------------------------------------------------------------------------- routes
_PATH_VARIABLE = re.compile(r"\{([^{}/]+?)(\+?)\}")


@dataclass(frozen=True)
class Route:
    """One HttpApi event of a function: `METHOD /path` (or `$default`), its function and its authorization."""

    method: str
    path: str
    function: str
    authorization: str  # "NONE", "AWS_IAM" or the name of a Lambda authorizer of the HttpApi
    pattern: re.Pattern[str]
    variables: tuple[str, ...]

    @property
    def key(self) -> str:
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    @property
    def precedence(self) -> tuple[bool, bool, int, bool]:
        """Sort key: exact paths, then path variables, greedy ones, $default; ANY after named methods."""
        return (self.path == DEFAULT_ROUTE, "+}" in self.path, len(self.variables), self.method == "ANY")

    def path_parameters(self, method: str, path: str) -> dict[str, str] | None:
        """The decoded path parameters when this route takes the request, else None."""
        if self.method not in (method, "ANY"):
            return None
        if self.path == DEFAULT_ROUTE:
            return {}
        match = self.pattern.fullmatch(path)
        return {name: unquote(value) for name, value in zip(self.variables, match.groups())} if match else None


@dataclass(frozen=True)
class LambdaAuthorizer:
    """A REQUEST authorizer with payload format 2.0 and simple responses."""

    function: str
    identity_headers: tuple[str, ...]
    identity_query_strings: tuple[str, ...]


def _routes(template: dict[str, Any], apis: dict[str, dict[str, Any]]) -> list[Route]:
    routes = []
    for function, _event_name, properties in function_events(template, "HttpApi"):
        api = apis.get((properties.get("ApiId") or {}).get("Ref", ""))
        if api is None:
            continue
        default_authorization = api.get("Properties", {}).get("Auth", {}).get("DefaultAuthorizer", "NONE")
        path = properties.get("Path", DEFAULT_ROUTE)
        routes.append(
            Route(
                method=properties.get("Method", "ANY").upper(),
                path=path,
                function=function,
                authorization=properties.get("Auth", {}).get("Authorizer") or default_authorization,
                **_path_pattern(path),
            )
        )
    return sorted(routes, key=lambda route: route.precedence)


def _path_pattern(path: str) -> dict[str, Any]:
    """The regular expression of a route path, and the names of its variables in order."""
    pattern, variables, position = "", [], 0
    for variable in _PATH_VARIABLE.finditer(path):
        greedy = variable[2] == "+"
        pattern += re.escape(path[position : variable.start()]) + ("(.+)" if greedy else "([^/]+)")
        variables.append(variable[1])
        position = variable.end()
    return {"pattern": re.compile(pattern + re.escape(path[position:])), "variables": tuple(variables)}


def _lambda_authorizer(name: str, spec: dict[str, Any]) -> LambdaAuthorizer:
    if spec.get("AuthorizerPayloadFormatVersion") != "2.0" or not spec.get("EnableSimpleResponses"):
        raise ValueError(f"authorizer {name}: the local HTTP API knows payload 2.0 with simple responses only")
    function_arn = spec.get("FunctionArn")
    if not (isinstance(function_arn, dict) and "Fn::GetAtt" in function_arn):
        raise ValueError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn")
    identity = spec.get("Identity", {})
    return LambdaAuthorizer(
        function=function_arn["Fn::GetAtt"][0],
        identity_headers=tuple(header.lower() for header in identity.get("Headers", [])),
        identity_query_strings=tuple(identity.get("QueryStrings", [])),
    )


def _lambda_authorizers(apis: dict[str, dict[str, Any]]) -> dict[str, LambdaAuthorizer]:
    return {
        name: _lambda_authorizer(name, spec)
        for api in apis.values()
        for name, spec in api.get("Properties", {}).get("Auth", {}).get("Authorizers", {}).items()
    }


# ---------------------------------------------------------------------------------------------- requests
def _joined_by_name(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Values of repeated names joined with commas, as payload format 2.0 has headers and query parameters."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def lower_case_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names lower-cased, repeated headers joined with commas."""
    return _joined_by_name((name.lower(), value) for name, value in headers)


def _query_string_parameters(query: str) -> dict[str, str]:
    return _joined_by_name(parse_qsl(query, keep_blank_values=True))


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    source_ip: str
    received_at: datetime
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def host(self) -> str:
        return self.headers.get("host", "localhost")

    @property
    def is_binary(self) -> bool:
        """API Gateway base64-encodes bodies that are not UTF-8 text, or that are compressed."""
        if self.headers.get("content-encoding", "identity").strip().lower() != "identity":
            return True
        try:
            self.body.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False


# ---------------------------------------------------------------------------------------------- the API
class LocalHttpApi:
    """Answers HTTP requests as the deployed HTTP API would, invoking the functions the template routes to."""

    def __init__(
        self,
        template: dict[str, Any],
        invoke: Invoke,
        credentials: tuple[str, str],
        region: str,
        account_id: str = "123456789012",
    ) -> None:
        apis = resources_of_type(template, "AWS::Serverless::HttpApi")
        self.routes = _routes(template, apis)
        self.authorizers = _lambda_authorizers(apis)
        self.invoke = invoke
        self.credentials = Credentials(*credentials)
        self.region = region
        self.account_id = account_id
        self._api_arn = f"arn:aws:execute-api:{region}:{account_id}:{API_ID}"
        unknown = {route.authorization for route in self.routes} - {"NONE", "AWS_IAM", *self.authorizers}
        if unknown:
            raise ValueError(f"routes name authorizers the HttpApi does not define: {sorted(unknown)}")

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, str],
        body: bytes,
        source_ip: str = "127.0.0.1",
    ) -> HttpResponse:
        """One request; `raw_path` may carry a query string."""
        url = urlsplit(raw_path)
        request = _Request(
            method.upper(),
            url.path,
            url.query,
            lower_case_headers(headers.items()),
            body,
            source_ip,
            datetime.now(UTC),
        )
        try:
            response = self._respond(request)
        except GatewayRejection as rejection:
            response = rejection.response
        except Exception:
            log.exception("%s %s failed (request %s)", request.method, request.path, request.request_id)
            response = _internal_server_error()
        return replace(response, headers={**response.headers, "apigw-requestid": request.request_id})

    def _respond(self, request: _Request) -> HttpResponse:
        if len(request.body) > MAX_PAYLOAD_BYTES:
            raise GatewayRejection(413, "Request Entity Too Large")
        route, path_parameters = self._route_for(request)
        event = self._event(request, route, path_parameters)
        authorizer = self._authorize(request, route, event)
        if authorizer is not None:
            event["requestContext"] = {**event["requestContext"], "authorizer": authorizer}
        return integration_response(self.invoke(route.function, event))

    def _route_for(self, request: _Request) -> tuple[Route, dict[str, str]]:
        for route in self.routes:
            path_parameters = route.path_parameters(request.method, request.path)
            if path_parameters is not None:
                return route, path_parameters
        raise GatewayRejection(404, "Not Found")

    # ------------------------------------------------------------------------------------------ events
    def _event(self, request: _Request, route: Route, path_parameters: dict[str, str]) -> dict[str, Any]:
        """The payload format 2.0 event (without requestContext.authorizer, which authorization adds)."""
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": request.path,
            "rawQueryString": request.query,
            "headers": request.headers,
            "requestContext": self._request_context(request, route),
            "isBase64Encoded": False,
        }
        cookies = [cookie.strip() for cookie in re.split(r"[;,]", request.headers.get("cookie", "")) if cookie.strip()]
        if cookies:
            event["cookies"] = cookies
        if request.query:
            event["queryStringParameters"] = _query_string_parameters(request.query)
        if path_parameters:
            event["pathParameters"] = path_parameters
        if request.body:
            event["isBase64Encoded"] = request.is_binary
            event["body"] = base64.b64encode(request.body).decode() if request.is_binary else request.body.decode()
        return event

    def _request_context(self, request: _Request, route: Route) -> dict[str, Any]:
        domain_name = urlsplit(f"//{request.host}").hostname or "localhost"
        return {
            "accountId": self.account_id,
            "apiId": API_ID,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": request.headers.get("user-agent", ""),
            },
            "requestId": request.request_id,
            "routeKey": route.key,
            "stage": STAGE,
            "time": request.received_at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(request.received_at.timestamp() * 1000),
        }

    # ------------------------------------------------------------------------------------------ authorization
    def _authorize(self, request: _Request, route: Route, event: dict[str, Any]) -> dict[str, Any] | None:
        """requestContext.authorizer for the route, or GatewayRejection."""
        if route.authorization == "NONE":
            return None
        if route.authorization == "AWS_IAM":
            return {"iam": self._iam_caller(request)}
        return {"lambda": self._lambda_authorizer_context(request, self.authorizers[route.authorization], event)}

    def _lambda_authorizer_context(self, request: _Request, authorizer: LambdaAuthorizer, event: dict[str, Any]) -> Any:
        query = _query_string_parameters(request.query)
        identity = [request.headers.get(name) for name in authorizer.identity_headers]
        identity += [query.get(name) for name in authorizer.identity_query_strings]
        if not all(identity):
            raise GatewayRejection(401, "Unauthorized")
        authorizer_event = {key: value for key, value in event.items() if key not in ("body", "isBase64Encoded")}
        authorizer_event.update(
            type="REQUEST",
            routeArn=f"{self._api_arn}/{STAGE}/{request.method}{request.path}",
            identitySource=identity,
        )
        result = self.invoke(authorizer.function, authorizer_event)
        if not (isinstance(result, dict) and isinstance(result.get("isAuthorized"), bool)):
            raise ValueError(f"authorizer {authorizer.function} returned no boolean isAuthorized: {result!r}")
        if not result["isAuthorized"]:
            raise GatewayRejection(403, "Forbidden")
        return result.get("context")

    def _iam_caller(self, request: _Request) -> dict[str, Any]:
        """Verify the request's SigV4 signature (execute-api, this region, the local credentials)."""
        authorization = request.headers.get("authorization")
        if not authorization:
            raise GatewayRejection(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        parameters = _signature_parameters(authorization)
        access_key, _, scope = parameters["Credential"].partition("/")
        if access_key != self.credentials.access_key:
            raise GatewayRejection(
                403, "The security token included in the request is invalid.", "AccessDeniedException"
            )
        signed_at = _signature_time(request.headers.get("x-amz-date"), request.received_at)
        self._check_scope(scope, signed_at)
        signed_header_names = parameters["SignedHeaders"].split(";")
        if "host" not in signed_header_names:
            raise _invalid_signature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        if not hmac.compare_digest(self._signature(request, signed_header_names, signed_at), parameters["Signature"]):
            raise _invalid_signature(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details."
            )
        return {
            "accessKey": access_key,
            "accountId": self.account_id,
            "callerId": LOCAL_IAM_USER,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{self.account_id}:user/{LOCAL_IAM_USER}",
            "userId": LOCAL_IAM_USER,
        }

    def _check_scope(self, scope: str, signed_at: str) -> None:
        date, region, service, terminator = [*scope.split("/"), "", "", "", ""][:4]
        if date != signed_at[:8]:
            raise _invalid_signature(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{date}' != '{signed_at[:8]}', from '{signed_at}'."
            )
        if region != self.region:
            raise _invalid_signature("Credential should be scoped to a valid region.")
        if service != EXECUTE_API:
            raise _invalid_signature(f"Credential should be scoped to correct service: '{EXECUTE_API}'.")
        if terminator != "aws4_request":
            raise _invalid_signature(
                f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            )

    def _signature(self, request: _Request, signed_header_names: list[str], signed_at: str) -> str:
        """The signature botocore computes for the request as received, over the headers the client signed."""
        headers = {name: request.headers.get(name, "") for name in signed_header_names}
        if "x-amz-content-sha256" in headers:
            # canonicalise the body actually received, not the hash the client declares
            headers["x-amz-content-sha256"] = hashlib.sha256(request.body).hexdigest()
        signed_request = AWSRequest(
            method=request.method,
            url=f"http://{request.host}{request.path}",
            headers=headers,
            data=request.body,
            params=parse_qsl(request.query, keep_blank_values=True),
        )
        signed_request.context["timestamp"] = signed_at
        signer = _ExactHeadersSigV4Auth(self.credentials, EXECUTE_API, self.region)
        canonical_request = signer.canonical_request(signed_request)
        return signer.signature(signer.string_to_sign(signed_request, canonical_request), signed_request)


class _ExactHeadersSigV4Auth(SigV4Auth):
    """SigV4Auth over all the request's headers (botocore's signer leaves some out, e.g. user-agent)."""

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name, value in request.headers.items():
            headers[name.lower()] = value
        return headers


def _signature_parameters(authorization: str) -> dict[str, str]:
    algorithm, _, rest = authorization.strip().partition(" ")
    parameters = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        parameters[name] = value
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not parameters.get(name)]
    if algorithm != SIGV4_ALGORITHM or missing:
        raise _incomplete_signature(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            or f"Unsupported Authorization Type: only {SIGV4_ALGORITHM} is accepted."
        )
    return parameters


def _signature_time(x_amz_date: str | None, now: datetime) -> str:
    """The X-Amz-Date value, if within five minutes of now."""
    if not x_amz_date:
        raise _incomplete_signature("Authorization header requires existence of a 'X-Amz-Date' header.")
    try:
        signed_at = datetime.strptime(x_amz_date, SIGV4_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _incomplete_signature(f"Date must be in ISO-8601 'basic format'. Got '{x_amz_date}'.") from None
    stamp = now.strftime(SIGV4_TIME_FORMAT)
    if signed_at < now - SIGNATURE_VALIDITY:
        earliest = (now - SIGNATURE_VALIDITY).strftime(SIGV4_TIME_FORMAT)
        raise _invalid_signature(f"Signature expired: {x_amz_date} is now earlier than {earliest} ({stamp} - 5 min.)")
    if signed_at > now + SIGNATURE_VALIDITY:
        latest = (now + SIGNATURE_VALIDITY).strftime(SIGV4_TIME_FORMAT)
        raise _invalid_signature(
            f"Signature not yet current: {x_amz_date} is still later than {latest} ({stamp} + 5 min.)"
        )
    return x_amz_date


# ---------------------------------------------------------------------------------------------- responses
def integration_response(result: Any) -> HttpResponse:
    """The HTTP response for a function's result, per payload format 2.0 (inferred when no statusCode)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, {"content-type": "application/json"}, body.encode())
    body = "" if result.get("body") is None else result["body"]
    if not isinstance(body, str):
        raise ValueError(f"the function's body must be a string, not {type(body).__name__}")
    return HttpResponse(
        status=int(result["statusCode"]),
        headers={name: str(value) for name, value in (result.get("headers") or {}).items()},
        body=base64.b64decode(body) if result.get("isBase64Encoded") else body.encode(),
        cookies=tuple(result.get("cookies") or ()),
    )


# ---------------------------------------------------------------------------------------------- the server
def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BadFraming(ValueError):
    """A request whose body length cannot be read: the connection is answered 400 and closed."""


MAX_CHUNK_LINE_BYTES = 1024


def _framing_number(text: str, base: int, what: str) -> int:
    """A Content-Length (base 10) or chunk size (base 16): digits only, no sign, no spaces inside."""
    digits = text.strip()
    allowed = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
    if not digits or len(digits) > 20 or any(character not in allowed for character in digits):
        raise BadFraming(f"invalid {what}")
    return int(digits, base)


class _IPv6ThreadingHTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _RequestHandler(BaseHTTPRequestHandler):
    """Reads one HTTP request, lets the LocalHttpApi answer it and logs one line."""

    api: LocalHttpApi
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except BadFraming as bad:
            self.close_connection = True
            response = HttpResponse(
                400, {"content-type": "application/json"}, json.dumps({"message": str(bad)}).encode()
            )
        else:
            headers = lower_case_headers(self.headers.items())
            response = self.api.handle(self.command, self.path, headers, body, self.client_address[0])
        self._write(response)
        log.info(
            '%s "%s %s" %d %d bytes %.0f ms',
            self.client_address[0],
            self.command,
            urlsplit(self.path).path,  # the route only: a query may hold an email or a phone number
            response.status,
            len(response.body),
            (time.monotonic() - started) * 1000,
        )

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _read_body(self) -> bytes:
        """The body, cut one byte past the payload limit (the API answers 413, the connection closes); BadFraming
        for a Content-Length or chunk size that is not a non-negative number."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked_body()
        length = _framing_number(self.headers.get("content-length") or "0", 10, "Content-Length")
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True
        return self.rfile.read(min(length, MAX_PAYLOAD_BYTES + 1))

    def _read_chunked_body(self) -> bytes:
        body = b""
        while len(body) <= MAX_PAYLOAD_BYTES:
            line = self.rfile.readline(MAX_CHUNK_LINE_BYTES + 1).split(b";")[0]
            size = _framing_number(line.decode("latin-1"), 16, "chunk size")
            if size == 0:
                while self.rfile.readline(MAX_CHUNK_LINE_BYTES + 1).strip():  # trailers
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline(MAX_CHUNK_LINE_BYTES + 1)
        self.close_connection = True
        return body

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        for cookie in response.cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are logged by _serve, with their duration."""

    def log_message(self, message_format: str, *args: Any) -> None:
        log.warning("%s - " + message_format, self.address_string(), *args)


def make_server(api: LocalHttpApi, host: str = "127.0.0.1", port: int = 3000) -> ThreadingHTTPServer:
    """A threading HTTP server for the API, bound but not started; loopback addresses only."""
    if not _is_loopback(host):
        raise ValueError(f"refusing to serve on {host!r}: the local HTTP API listens on loopback addresses only")
    handler = type("LocalHttpApiHandler", (_RequestHandler,), {"api": api})
    server_class = _IPv6ThreadingHTTPServer if ":" in host else ThreadingHTTPServer
    return server_class((host, port), handler)


def serve(api: LocalHttpApi, host: str = "127.0.0.1", port: int = 3000) -> None:
    """Serve the API on a loopback address until interrupted, logging one line per request."""
    server = make_server(api, host, port)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log.info("HTTP API listening on http://%s:%d", host, server.server_port)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped")
