"""End to end through the template-driven local stack: file drop -> clean -> profile -> journey -> SES message."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes

from cdp_local.runner import build_report
from cdp_local.stack import ACCOUNT_ID, LocalStack
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

RECENT = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="seconds")
CUSTOMERS = f"""customer_id,email,phone,first_name,last_name,country,city,signup_at,email_consent,sms_consent
C1, Ann.Lee@Example.com ,07700 900123,Ann,Lee,GB,London,{RECENT},true,true
C2,bob@example.com,,Bob,Ray,GB,Leeds,{RECENT},false,false
C3,old@example.com,,Old,Timer,GB,York,2020-01-01T00:00:00Z,true,false
C4,broken@,,Bad,Email,GB,York,{RECENT},true,false
""".encode()
ORDERS = b"""order_id,customer_id,ordered_at,currency,total_amount,items,category,status
O1,C3,2024-01-01T10:00:00Z,GBP,20.00,1,books,completed
O2,C3,2024-02-01T10:00:00Z,GBP,30.50,2,toys,completed
O3,C3,2024-03-01T10:00:00Z,GBP,-5,1,toys,completed
O2,C3,2024-02-01T10:00:00Z,GBP,30.50,2,toys,completed
"""


def _drop(stack: LocalStack, key: str, body: bytes) -> None:
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key=key, Body=body)


def test_a_new_consenting_customer_gets_one_welcome_email_and_every_row_is_accounted_for(stack: LocalStack) -> None:
    # Given: customers and a gzip orders export, each with dirty rows
    # When: they are dropped into the raw bucket, and the orders file is delivered again
    _drop(stack, "customers/customers.csv", CUSTOMERS)
    _drop(stack, "orders/orders.csv.gz", gzip.compress(ORDERS))
    _drop(stack, "orders/orders.csv.gz", gzip.compress(ORDERS))
    stack.wait_for_executions(timeout=60)
    report = build_report(stack)

    # Then: rows in = accepted + quarantined, with reasons
    files = {(file["key"], file["rows_in"]): file for file in report["files"]}
    customers = files[("customers/customers.csv", 4)]
    assert (customers["rows_accepted"], customers["quarantine_reasons"]) == (3, {"invalid_email": 1})
    orders = [file for file in report["files"] if file["key"] == "orders/orders.csv.gz"]
    assert len(orders) == 2  # two object versions, each accounted for
    first, again = sorted(orders, key=lambda file: file["rows_accepted"], reverse=True)
    assert (first["rows_accepted"], first["quarantine_reasons"]) == (3, {"duplicate_in_file": 1})
    assert (again["rows_accepted"], again["quarantine_reasons"]) == (
        0,
        {"duplicate_in_file": 1, "duplicate_of_earlier_file": 3},
    )
    # Then: the re-dropped orders count once on the profile (O3 is a cancelled line of -5.00)
    items = stack.client("dynamodb").scan(TableName=stack.physical_id("ProfilesTable"))["Items"]
    assert report["profiles"] == 3
    [old_timer_id] = [item["profile_id"]["S"] for item in items if item["pk"]["S"] == "IDENTITY#email#old@example.com"]
    old_timer = next(item for item in items if (item["pk"]["S"], item["sk"]["S"]) == (f"PROFILE#{old_timer_id}", "PROFILE"))
    assert (int(old_timer["orders_count"]["N"]), Decimal(old_timer["revenue"]["N"])) == (3, Decimal("45.50"))
    # Then: only the recent signups started the journey; only the consenting one was emailed, once
    welcome = report["journeys"]["welcome"]
    assert {key: welcome[key] for key in ("started", "completed", "exited_on_goal", "failed", "sent")} == {
        "started": 2, "completed": 2, "exited_on_goal": 0, "failed": 0, "sent": 2}  # fmt: skip
    # (the other one consented to nothing: no channel could carry her a code, so no coupon was issued, and the welcome
    # without a code was skipped; the nudges, which carry the code, were never tried)
    assert welcome["skipped"] == {"no_consent": 1}
    assert welcome["steps"]["welcome_without_coupon"]["skipped"] == {"no_consent": 1}
    assert welcome["steps"]["first_order_email"] == {"sent": 0, "skipped": {}, "deferred": 0}
    assert report["coupons"]["welcome10"]["refused"] == {"unreachable:no_consent": 1}
    assert report["messages"]["email"] == 1
    assert report["messages"]["skipped"] == {"no_consent": 1}
    sent = ses_backends[ACCOUNT_ID][stack.region].sent_messages
    assert len(sent) == 1
    mime = message_from_bytes(sent[0].raw_data.encode() if isinstance(sent[0].raw_data, str) else sent[0].raw_data)
    assert mime["To"] == "ann.lee@example.com"
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mime["List-Unsubscribe"].startswith("<https://")
    # Then: she also consented to SMS and has not ordered: the follow-up SMS went to her E.164 number
    sms = list(sns_backends[ACCOUNT_ID][stack.region].sms_messages.values())
    assert [number for number, _text in sms] == ["+447700900123"]
    assert report["async_failures"] == []
