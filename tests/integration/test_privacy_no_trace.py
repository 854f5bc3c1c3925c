"""Consent, erasure and export through the template-driven local stack (IAM-signed HTTP routes, file drops): after
erasure nothing of the person is left, neither her records nor what the marketing half wrote about her."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from cdp.adapters.send_records import DeferredMessageTable
from cdp.adapters.suppression_store import SuppressionStore
from cdp.keys import address_digest
from cdp.messaging.requests import MessageRequest
from cdp.messaging.suppression import Suppressions
from cdp_local.stack import LocalStack

from tests.integration.privacy_flow import (
    ANN_EMAIL,
    ANN_TRACES,
    CUSTOMERS,
    ORDERS,
    RECENT,
    SALT,
    call_api,
    drop,
    post_tracking,
    profile_of,
    table_items,
)

CONSENTS = f"""email,phone,channel,purpose,granted,recorded_at
ann.lee@example.com,,sms,marketing,false,{RECENT}
,+447700900123,email,profiling,true,{RECENT}
""".encode()
CUSTOMERS_AGAIN = f"""customer_id,email,phone,first_name,signup_at
C1,ann.lee@example.com,07700 900123,Ann,{RECENT}
C9,ANN.LEE@example.com,,Ann,not a date
C3,carl@example.com,,Carl,{RECENT}
""".encode()
ORDERS_AGAIN = b"""order_id,customer_id,ordered_at,currency,total_amount,items,category,status
O7,C1,2026-04-01T10:00:00Z,GBP,12.00,1,books,completed
O8,C2,2026-04-02T10:00:00Z,GBP,8.00,1,books,completed
"""
CONSENTS_AGAIN = f"""email,channel,purpose,granted,recorded_at
ann.lee@example.com,email,marketing,true,{RECENT}
bob@example.com,email,marketing,true,{RECENT}
""".encode()


@pytest.fixture
def logs() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def stack(logs: io.StringIO):
    with LocalStack(function_output=logs) as local_stack:
        local_stack.client("ssm").put_parameter(Name="/cdp/erasure-salt", Value=SALT, Type="SecureString", Overwrite=True)
        yield local_stack


def _object_texts(stack: LocalStack) -> dict[str, str]:
    """Every version of every object in every bucket, decompressed, Parquet read back to text."""
    s3 = stack.client("s3")
    texts = {}
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        if bucket == "cdp-local-artifacts":
            continue
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
                if body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                text = str(pq.read_table(io.BytesIO(body)).to_pylist()) if body[:4] == b"PAR1" else body.decode("utf-8", "replace")
                texts[f"{bucket}/{version['Key']}@{version['VersionId']}"] = text
    return texts


def _file_reports(stack: LocalStack) -> list[dict[str, Any]]:
    return [json.loads(item["report"]["S"]) for item in table_items(stack, "LedgerTable") if "report" in item]


def _quarantined_records(stack: LocalStack) -> list[dict[str, Any]]:
    s3, bucket = stack.client("s3"), stack.physical_id("QuarantineBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="rows/").get("Contents", [])]
    bodies = (s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode() for key in keys)
    return [json.loads(line) for body in bodies for line in body.splitlines() if line.strip()]


def _traces(text: str) -> list[str]:
    return [trace for trace in ANN_TRACES if trace in text.lower()]


def test_after_erasure_no_trace_of_the_person_remains_and_a_re_drop_does_not_bring_her_back(
    stack: LocalStack, logs: io.StringIO
) -> None:
    # Given: Ann and Bob from a customers file, an orders file (one of Ann's rows quarantined) and HTTP events
    drop(stack, "customers/customers.csv", CUSTOMERS)
    drop(stack, "orders/orders.csv.gz", gzip.compress(ORDERS))
    drop(stack, "consents/consents.csv", CONSENTS)
    post_tracking(stack)
    stack.wait_for_executions(timeout=60)
    ann, bob = profile_of(stack, "C1"), profile_of(stack, "C2")
    assert any(_traces(text) for text in _object_texts(stack).values())
    # When: Ann's profile is erased
    status, accepted = call_api(stack, "DELETE", f"/v1/profiles/{ann['profile_id']}")
    stack.wait_for_executions(timeout=30)
    # Then: 202 with an erasure id whose status shows the S3 part completed
    assert status == 202
    status, erasure = call_api(stack, "GET", accepted["status_url"])
    assert (status, erasure["status"], erasure["deleted"]["identity_items"]) == (200, "completed", 3)
    assert erasure["objects"]["versions_deleted"]["raw"] == 3
    assert "identifier_digests" not in erasure
    # Then: no table item, object version or function log line holds her email or phone
    for table in stack.client("dynamodb").list_tables()["TableNames"]:
        pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=table)
        leaks = [item for page in pages for item in page["Items"] if _traces(json.dumps(item)) or ann["profile_id"] in json.dumps(item) and "ERASURE#" not in json.dumps(item)]
        assert leaks == [], table
    assert {name: _traces(text) for name, text in _object_texts(stack).items() if _traces(text)} == {}
    assert _traces(logs.getvalue()) == []
    # Then: Bob is intact: profile, order, curated rows
    bob_after = profile_of(stack, "C2")
    assert (bob_after["email"], int(bob_after["orders_count"])) == ("bob@example.com", int(bob["orders_count"]))
    assert any("bob@example.com" in text for text in _object_texts(stack).values())
    # When: files holding her rows are dropped again: customers (one row rejected for its date), orders, consents
    drop(stack, "customers/again.csv", CUSTOMERS_AGAIN)
    drop(stack, "orders/again.csv", ORDERS_AGAIN)
    drop(stack, "consents/again.csv", CONSENTS_AGAIN)
    # Then: each of her rows is quarantined as `erased_subject` with its line only, the others accepted
    reports = {report["key"]: report for report in _file_reports(stack)}
    assert [(reports[key]["rows_in"], reports[key]["rows_accepted"], reports[key]["quarantine_reasons"])
            for key in ("customers/again.csv", "orders/again.csv", "consents/again.csv")] == [
        (3, 1, {"erased_subject": 2}), (2, 1, {"erased_subject": 1}), (2, 1, {"erased_subject": 1})]
    assert all(r["rows_in"] == r["rows_accepted"] + r["rows_quarantined"] for r in reports.values())
    erased_records = [record for record in _quarantined_records(stack) if record["reason"] == "erased_subject"]
    assert sorted((record["source_key"], record["line"], "row" in record) for record in erased_records) == [
        ("consents/again.csv", 2, False), ("customers/again.csv", 2, False), ("customers/again.csv", 3, False),
        ("orders/again.csv", 2, False)]  # fmt: skip
    # When: her app sends a call linking her customer id and a device (the link is how a profile would come back)
    post_tracking(stack, [{"type": "track", "messageId": "t9", "userId": "C1", "anonymousId": "dev-9", "event": "Opened"}])
    # Then: nothing of it is bound
    assert [i["pk"]["S"] for i in table_items(stack, "ProfilesTable") if i["pk"]["S"] in ("IDENTITY#customer_id#C1", "IDENTITY#anonymous_id#dev-9")] == []
    # Then: still no trace of her in any table, in curated or quarantine objects, or in the logs; Carl is in
    for table in stack.client("dynamodb").list_tables()["TableNames"]:
        pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=table)
        assert [item for page in pages for item in page["Items"] if _traces(json.dumps(item))] == [], table
    raw = stack.physical_id("RawBucket")
    stored = {name: text for name, text in _object_texts(stack).items() if not name.startswith(f"{raw}/")}
    assert {name: _traces(text) for name, text in stored.items() if _traces(text)} == {}
    assert _traces(logs.getvalue()) == []
    assert profile_of(stack, "C3")["email"] == "carl@example.com"


LOYALTY = f"""entry_id,customer_id,occurred_at,points,reason
L1,C1,{RECENT},120,order
L2,C2,{RECENT},40,order
""".encode()


def _message(profile_id: str, origin: str, name: str, occurrence: str = "run-1") -> dict[str, Any]:
    if origin == "journey":
        return {"profile_id": profile_id, "origin": "journey", "origin_name": name, "step": "welcome_email",
                "occurrence": occurrence, "channel": "email", "template": "welcome_email",
                "context": {"coupon_code": "WELCOME10"}}  # fmt: skip
    return {"profile_id": profile_id, "origin": "campaign", "origin_name": name, "step": "send", "occurrence": occurrence,
            "channel": "email", "template": "campaign_generic", "context": {"headline": "New", "body": "In store"}}  # fmt: skip


def _suppressions(stack: LocalStack) -> Suppressions:
    return Suppressions(SuppressionStore(stack.physical_id("ProfilesTable")), SALT, "GB")


def _items_naming(stack: LocalStack, *needles: str) -> list[dict[str, Any]]:
    """Every item of every table that holds one of the needles (erasure status items aside)."""
    found = []
    for table in stack.client("dynamodb").list_tables()["TableNames"]:
        for page in stack.client("dynamodb").get_paginator("scan").paginate(TableName=table):
            found += [item for item in page["Items"] if "ERASURE#" not in json.dumps(item)
                      and any(needle in json.dumps(item).lower() for needle in needles)]  # fmt: skip
    return found


def test_erasure_leaves_nothing_of_the_marketing_half_coupons_loyalty_campaign_and_journey_sends(
    stack: LocalStack,
) -> None:
    # Given: Ann and Bob with orders, consents and loyalty points
    drop(stack, "customers/customers.csv", CUSTOMERS)
    drop(stack, "orders/orders.csv.gz", gzip.compress(ORDERS))
    drop(stack, "loyalty/loyalty.csv", LOYALTY)
    stack.wait_for_executions(timeout=60)
    ann = profile_of(stack, "C1")["profile_id"]
    # Given: two coupons issued to her besides the one her welcome journey issues, a campaign email and a journey
    # email sent (the afternoon: no quiet hours), and a campaign email deferred until tomorrow
    codes = [stack.invoke("IssueCouponFunction", {"offer": offer, "profile_id": ann, "occasion_key": f"{offer}:1"})
             ["code"] for offer in ("vip_gift", "winback15")]  # fmt: skip
    afternoon = datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0)
    stack.clock_offset = afternoon - datetime.now(UTC)
    sends = [stack.invoke("SendMessageFunction", _message(ann, origin, name))
             for origin, name in (("campaign", "winter_sale"), ("journey", "welcome"))]  # fmt: skip
    deferred = DeferredMessageTable(stack.physical_id("ProfilesTable"))
    deferred.defer(MessageRequest.model_validate(_message(ann, "campaign", "spring_sale")), afternoon + timedelta(days=1))
    assert [send["status"] for send in sends] == ["sent", "sent"] and all(codes)
    kept = {item["sk"]["S"].split("#")[0] for item in _items_naming(stack, ann.lower())}
    assert {"COUPON", "CAP", "MESSAGE"} <= kept and any("loyalty" in json.dumps(item) for item in _items_naming(stack, ann))
    assert len(_items_naming(stack, *(code.lower() for code in codes))) >= 2
    # Given: her address complained (the suppression list keeps the sha256 of the address)
    _suppressions(stack).add(ann, "email", ANN_EMAIL, "complaint", afternoon)
    assert _items_naming(stack, address_digest(ANN_EMAIL))
    # When: she is erased, then a campaign worker redelivers a message to her
    status, _accepted = call_api(stack, "DELETE", f"/v1/profiles/{ann}")
    stack.wait_for_executions(timeout=30)
    late = stack.invoke("SendMessageFunction", _message(ann, "campaign", "winter_sale", occurrence="run-2"))
    # Then: no item of any table names her profile, her email or phone (or its digest), or her coupon codes; nothing
    # re-created one; the erased register keeps her address suppressed
    assert (status, late["reason"]) == (202, "profile_not_found")
    assert _items_naming(stack, ann.lower(), *ANN_TRACES, address_digest(ANN_EMAIL), *(code.lower() for code in codes)) == []
    assert _suppressions(stack).reason("someone", "email", ANN_EMAIL) == "erased"
    assert deferred.due(afternoon + timedelta(days=2), 10) == []
    # Then: Bob's loyalty entry is still there
    assert _items_naming(stack, profile_of(stack, "C2")["profile_id"].lower())
