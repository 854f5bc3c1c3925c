"""One person through every entry point of the local stack (a CSV drop, the Segment HTTP API, a signed Shopify
webhook), each writing their email and phone differently, ends as one profile found by lookup with any written form;
and every entry point's rows land in the curated zone as the same Parquet."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cdp.adapters.curated_stream import MAX_ATTEMPTS
from cdp_local.runner import DEMO_SHOP, create_local_source, http_api, register_demo_shop
from cdp_local.stack import LocalStack
from cdp_local.template import REPO_ROOT
from moto.firehose.models import FirehoseBackend

from tests.integration.privacy_flow import call_api
from tests.integration.shopify_shop import shopify_signature

EVENTS = REPO_ROOT / "events"
EMAIL = "ann.lee@xn--bcher-kva.de"
PHONE = "+447700900123"
CUSTOMERS_FILE = (
    "customer_id,email,phone,first_name,last_name,country,signup_at\n"
    "C-ANN,  Ann.Lee@Bücher.DE ,07700 900123,Ann,Lee,,2026-11-01T09:00:00Z\n"
).encode()
EVENTS_FILE = (
    b"event_id,event,occurred_at,customer_id,email,properties\n"
    b'f-1,Product Viewed,2026-11-22T08:00:00Z,C-ANN,ann.lee@xn--bcher-kva.de,"{""sku"": ""MUG-1""}"\n'
)
ORDERS_FILE = (
    b"order_id,line_id,customer_id,email,ordered_at,currency,sku,quantity,unit_price,status\n"
    b"F-1,1,C-ANN,ann.lee@xn--bcher-kva.de,2026-11-20T10:00:00Z,GBP,MUG-1,1,8.50,completed\n"
)
SHOPIFY_ORDER = {
    "id": 5001, "email": "ANN.LEE@BÜCHER.DE ", "phone": "0044 (0)7700-900-123", "created_at": "2026-11-22T12:00:00Z",
    "currency": "GBP", "financial_status": "paid", "source_name": "web",
    "billing_address": {"country_code": "GB", "city": "London"},
    "line_items": [{"id": 1, "product_id": 7, "sku": "MUG-1", "title": "Mug", "quantity": 2, "price": "8.50"}],
}  # fmt: skip


class Entrances:
    """The local stack's three front doors, as a shop and its customers use them."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.api = http_api(stack)
        self.authorization = "Basic " + base64.b64encode(f"{create_local_source(stack)}:".encode()).decode()
        register_demo_shop(stack)

    def drop_file(self, key: str, body: bytes) -> None:
        self.stack.client("s3").put_object(Bucket=self.stack.physical_id("RawBucket"), Key=key, Body=body)
        self.stack.deliver_queued_messages()  # the queued profile batches, as the SQS event source would

    def call(self, path: str, call: dict[str, Any]) -> Any:
        headers = {"content-type": "application/json", "authorization": self.authorization, "host": "localhost"}
        response = self.api.handle("POST", path, headers, json.dumps(call).encode())
        assert response.status == 200, response.body
        return response

    def webhook(self, topic: str, payload: dict[str, Any], webhook_id: str) -> Any:
        body = json.dumps(payload).encode()
        headers = {"host": "localhost", "content-type": "application/json", "x-shopify-topic": topic,
                   "x-shopify-shop-domain": DEMO_SHOP, "x-shopify-webhook-id": webhook_id,
                   "x-shopify-hmac-sha256": shopify_signature(body)}  # fmt: skip
        response = self.api.handle("POST", "/v1/webhooks/shopify", headers, body)
        assert response.status == 200, response.body
        return response

    def lookup(self, query: dict[str, str]) -> dict[str, Any]:
        event = json.loads((EVENTS / "http_lookup_profile.json").read_text())
        event["queryStringParameters"] = query
        return self.stack.invoke("GetProfileFunction", event)


@pytest.fixture
def doors(stack: LocalStack) -> Entrances:
    return Entrances(stack)


def _live_profiles(stack: LocalStack) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.physical_id("ProfilesTable"))["Items"]
    return [item for item in items if item["sk"]["S"] == "PROFILE" and "redirect_to" not in item]


def test_one_person_through_every_entry_point_is_one_profile_found_by_any_written_form(
    stack: LocalStack, doors: Entrances
) -> None:
    # Given: a customers file (national phone, no country: the deployment's default region), an identify call
    # (punycode already, E.164 with dashes), an anonymous visitor's track call (only an email, in Unicode) and a
    # guest Shopify order (upper-case IDN, 00 prefix and a (0) mark), no identifier written the same way twice
    doors.drop_file("customers/ann.csv", CUSTOMERS_FILE)
    doors.call(
        "/v1/identify",
        {
            "userId": "C-ANN",
            "messageId": "m-1",
            "traits": {"email": "ann.lee@xn--BCHER-kva.de", "phone": "+44 7700-900-123"},
        },
    )
    doors.call(
        "/v1/track",
        {
            "anonymousId": "anon-ann",
            "messageId": "m-2",
            "event": "Product Viewed",
            "context": {"traits": {"email": " Ann.Lee@bücher.de"}},
        },
    )
    doors.webhook("orders/create", SHOPIFY_ORDER, "wh-ann-1")
    # When: the person is looked up by each written form of each identifier
    forms = [{"email": " ANN.LEE@Bücher.de"}, {"email": EMAIL}, {"phone": "07700 900123"}, {"phone": PHONE},
             {"phone": "+44 (0)7700 900 123"}, {"customer_id": "C-ANN"}, {"anonymous_id": "anon-ann"}]  # fmt: skip
    answers = [doors.lookup(query) for query in forms]
    # Then: one live profile holds every identifier, and every form finds it
    [profile] = _live_profiles(stack)
    assert [answer["statusCode"] for answer in answers] == [200] * len(forms)
    found = {json.loads(answer["body"])["identity"]["profile_id"] for answer in answers}
    assert found == {profile["profile_id"]["S"]}
    identifiers = json.loads(answers[0]["body"])["identity"]["identifiers"]
    assert {(i["type"], i["value"]) for i in identifiers} == {
        ("customer_id", "C-ANN"),
        ("email", EMAIL),
        ("phone", PHONE),
        ("anonymous_id", "anon-ann"),
    }


def test_consent_requests_name_the_person_in_any_written_form(stack: LocalStack, doors: Entrances) -> None:
    # Given: Ann from the customers file
    doors.drop_file("customers/ann.csv", CUSTOMERS_FILE)
    now = datetime.now(UTC)
    # When: SMS consent is given by her national phone number, email consent withdrawn by her Unicode address
    statements = [
        {"phone": "07700 900-123", "channel": "sms", "granted": True},
        {"email": "ANN.LEE@bücher.de", "channel": "email", "granted": False},
    ]
    answers = [call_api(stack, "POST", "/v1/consents", {**who, "recorded_at": now.isoformat()}) for who in statements]
    bad = call_api(stack, "POST", "/v1/consents", {"phone": "call me", "channel": "sms", "granted": True,
                                                "recorded_at": now.isoformat()})  # fmt: skip
    # Then: both reach her one profile; a phone that is no number is a 400 naming the field
    assert [(status, answer["applied"]) for status, answer in answers] == [(200, True), (200, True)]
    [profile] = _live_profiles(stack)
    consent = profile["consent"]["M"]
    assert (consent["sms:marketing"]["M"]["granted"]["BOOL"], consent["email:marketing"]["M"]["granted"]["BOOL"]) == (
        True,
        False,
    )
    assert bad[0] == 400 and bad[1]["fields"][0]["field"] == "phone"


def test_a_lookup_by_a_written_form_that_is_no_identifier_is_400(doors: Entrances) -> None:
    # When / Then
    for query in ({"phone": "call me"}, {"phone": "0770"}, {"email": "ann.lee@"}):
        assert doors.lookup(query)["statusCode"] == 400, query


def _curated_objects(stack: LocalStack) -> dict[str, pa.Table]:
    """Every Parquet object of the curated bucket, by key."""
    bucket = stack.physical_id("CuratedBucket")
    s3 = stack.client("s3")
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])]  # fmt: skip
    assert all(key.endswith(".parquet") for key in keys), keys  # no raw JSON, no conversion errors
    return {key: pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) for key in keys}


def _through_the_glue_table(stack: LocalStack, entity: str, day: str) -> pa.Table:
    """One dt partition of an entity as Athena finds it: the table's partition projection location template."""
    table = stack.client("glue").get_table(DatabaseName=stack.physical_id("CuratedDatabase"), Name=entity)["Table"]
    location = table["Parameters"]["storage.location.template"].replace("${dt}", day)
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    s3 = stack.client("s3")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return pa.concat_tables(
        [pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) for key in keys]
    )


def test_every_entry_points_rows_land_in_the_curated_zone_as_the_same_parquet(
    stack: LocalStack, doors: Entrances
) -> None:
    # Given: files of customers, orders and events, and the same entities through the HTTP API and a webhook
    doors.drop_file("customers/ann.csv", CUSTOMERS_FILE)
    doors.drop_file("orders/ann.csv", ORDERS_FILE)
    doors.drop_file("events/ann.csv", EVENTS_FILE)
    doors.call(
        "/v1/identify",
        {
            "userId": "C-WEB",
            "messageId": "m-1",
            "timestamp": "2026-11-22T09:00:00Z",
            "traits": {"email": "web@example.com", "createdAt": "2026-11-22T09:00:00Z"},
        },
    )
    doors.call(
        "/v1/track",
        {
            "userId": "C-WEB",
            "messageId": "m-2",
            "event": "Order Completed",
            "timestamp": "2026-11-22T09:05:00.123456Z",
            "properties": {
                "order_id": "W-1",
                "currency": "gbp",
                "products": [{"sku": "MUG-1", "price": 8.5, "quantity": 2}],
            },
        },
    )
    doors.webhook("orders/create", SHOPIFY_ORDER, "wh-ann-1")
    # When: the curated bucket is read
    objects = _curated_objects(stack)
    # Then: per entity, the objects written for files and for HTTP/webhook rows have one schema, the files' one
    for entity in ("customers", "orders", "events"):
        file_objects = [t for key, t in objects.items() if key.startswith(f"{entity}/") and "Stream" not in key]
        stream_objects = [t for key, t in objects.items() if key.startswith(f"{entity}/") and "Stream" in key]
        assert file_objects and stream_objects, entity
        schemas = {t.schema.remove_metadata() for t in file_objects + stream_objects}
        assert len(schemas) == 1, (entity, schemas)
    # And: one dt partition read through the Glue table holds the file's and the web's rows alike
    events = _through_the_glue_table(stack, "events", "2026-11-22")
    by_source = {(row["event"], row["source_key"]) for row in events.to_pylist()}
    assert {
        ("Product Viewed", "events/ann.csv"),
        ("Identify", "http/local-demo"),
        ("Order Completed", "http/local-demo"),
    } <= by_source
    orders = _through_the_glue_table(stack, "orders", "2026-11-22").to_pylist()
    web_line = next(row for row in orders if row["order_id"] == "W-1")
    assert (web_line["currency"], web_line["quantity"], web_line["unit_price"]) == ("GBP", 2, Decimal("8.5000"))
    assert web_line["ordered_at"] == datetime(2026, 11, 22, 9, 5, 0, 123456, tzinfo=UTC)
    assert {row["source_key"] for row in orders} == {"http/local-demo", f"shopify/{DEMO_SHOP}"}
    assert _through_the_glue_table(stack, "orders", "2026-11-20").column("source_key").to_pylist() == ["orders/ann.csv"]


def test_a_failing_delivery_stream_asks_for_the_call_again_and_the_retry_completes_it(
    stack: LocalStack, doors: Entrances
) -> None:
    # Given: the events stream fails every record of the first two requests (each retried by the function)
    failures = iter([True] * MAX_ATTEMPTS)
    original = FirehoseBackend.put_record_batch

    def flaky(backend: FirehoseBackend, delivery_stream_name: str, records: list[dict[str, bytes]]) -> dict[str, Any]:
        if next(failures, False):
            return {"FailedPutCount": len(records), "Encrypted": False,
                    "RequestResponses": [{"ErrorCode": "ServiceUnavailableException"} for _ in records]}  # fmt: skip
        return original(backend, delivery_stream_name, records)

    call = {"userId": "C-WEB", "messageId": "m-flaky", "event": "Product Viewed", "timestamp": "2026-11-22T09:00:00Z"}
    headers = {"content-type": "application/json", "authorization": doors.authorization, "host": "localhost"}
    with mock.patch.object(FirehoseBackend, "put_record_batch", flaky), mock.patch("time.sleep"):
        # When: the call is sent, and sent again as Segment's libraries do after a 5xx
        first = doors.api.handle("POST", "/v1/track", headers, json.dumps(call).encode())
        second = doors.api.handle("POST", "/v1/track", headers, json.dumps(call).encode())
        third = doors.api.handle("POST", "/v1/track", headers, json.dumps(call).encode())
    # Then: 503 first (nothing remembered), then stored once in the curated zone and applied once to profiles
    assert (first.status, second.status, third.status) == (503, 200, 200)
    assert json.loads(third.body).get("duplicate") is True
    rows = [row for table in _curated_objects(stack).values() for row in table.to_pylist()
            if row.get("event_id") == "local-demo:m-flaky"]  # fmt: skip
    assert len(rows) == 1
