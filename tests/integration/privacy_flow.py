"""The privacy flow the integration tests share: a person's files, signed API calls, drops and tracking calls
through the local stack's HTTP API."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cdp.adapters.privacy_store import PrivacyStore
from cdp_local.runner import create_local_source, http_api
from cdp_local.stack import LOCAL_CREDENTIALS, LocalStack

SALT = "local-erasure-salt"
RECENT = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="seconds")
ANN_EMAIL, ANN_PHONE = "ann.lee@example.com", "+447700900123"
ANN_TRACES = ("ann.lee@example.com", "7700900123", "7700 900123")
CUSTOMERS = f"""customer_id,email,phone,first_name,last_name,country,city,signup_at,email_consent,sms_consent
C1, Ann.Lee@Example.com ,07700 900123,Ann,Lee,GB,London,{RECENT},true,true
C2,bob@example.com,07700 900456,Bob,Ray,GB,Leeds,2020-01-01T00:00:00Z,true,false
C1,ann.lee@example.com,07700 900123,Ann,Lee,GB,London,{RECENT},true,true
""".encode()
ORDERS = b"""order_id,customer_id,ordered_at,currency,total_amount,items,category,status
O1,C1,2026-01-01T10:00:00Z,GBP,20.00,1,books,completed
O2,C2,2026-02-01T10:00:00Z,GBP,30.50,2,toys,completed
O3,C1,2026-03-01T10:00:00Z,GBP,-5,1,toys,completed
"""


def signed(method: str, path: str, body: bytes = b"", secret: str = LOCAL_CREDENTIALS[1]) -> dict[str, str]:
    headers = {"host": "localhost", "content-type": "application/json"}
    request = AWSRequest(method=method, url=f"http://localhost{path}", headers=headers, data=body)
    SigV4Auth(Credentials(LOCAL_CREDENTIALS[0], secret), "execute-api", "eu-west-1").add_auth(request)
    return dict(request.headers.items())


def call_api(stack: LocalStack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    response = http_api(stack).handle(method, path, signed(method, path, data), data)
    return response.status, json.loads(response.body) if response.body else None


def drop(stack: LocalStack, key: str, body: bytes) -> None:
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key=key, Body=body)


def table_items(stack: LocalStack, logical_id: str) -> list[dict[str, Any]]:
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.physical_id(logical_id))
    return [item for page in pages for item in page["Items"]]


def profile_of(stack: LocalStack, customer_id: str) -> dict[str, Any]:
    identity = next(i for i in table_items(stack, "ProfilesTable") if i["pk"]["S"] == f"IDENTITY#customer_id#{customer_id}")
    return PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable")).profile_consistently(
        identity["profile_id"]["S"]
    ) or {}


TRACKING = [
    {"type": "identify", "messageId": "t1", "userId": "C1", "traits": {"email": ANN_EMAIL, "phone": ANN_PHONE}},
    {"type": "track", "messageId": "t2", "userId": "C1", "event": "Product Viewed", "properties": {"sku": "S1"}},
    {"type": "track", "messageId": "t3", "userId": "C2", "event": "Product Viewed", "properties": {"sku": "S2"}},
]


def post_tracking(stack: LocalStack, calls: list[dict[str, Any]] = TRACKING) -> None:
    write_key = create_local_source(stack)
    batch = {"batch": calls}
    authorization = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    response = http_api(stack).handle(
        "POST", "/v1/batch", {"host": "localhost", "content-type": "application/json", "authorization": authorization},
        json.dumps(batch).encode(),
    )
    assert response.status == 200
