"""An erasure that finishes while a file is being ingested stops the file's later batches from storing the person."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from cdp import wiring
from cdp.adapters.privacy_store import PrivacyStore
from cdp.ingest.pipeline import DroppedFile, ingest_dropped_file
from cdp.privacy.erase_objects import Matcher
from cdp.privacy.erasure import erase_identifiers
from cdp.settings import IngestSettings
from cdp_local.stack import LocalStack

HEADER = "order_id,line_id,customer_id,email,ordered_at,currency,sku,quantity,unit_price,status\n"
ANN = ("CA", "ann@example.com")


def _line(number: int, customer: tuple[str, str]) -> str:
    return f"O{number},1,{customer[0]},{customer[1]},2024-01-01T10:00:00Z,GBP,S,1,1.00,completed\n"


def test_a_person_erased_after_the_first_batch_is_not_stored_from_the_next_one(stack: LocalStack) -> None:
    # Given: 600 order lines read in small batches; Ann's orders on the first and the last line
    people = [ANN] + [(f"C{n}", f"c{n}@example.com") for n in range(1, 599)] + [ANN]
    body = (HEADER + "".join(_line(number, person) for number, person in enumerate(people))).encode()
    bucket = stack.physical_id("RawBucket")
    s3 = stack.client("s3")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})  # deliver by hand
    version = s3.put_object(Bucket=bucket, Key="orders/ann.csv", Body=body)["VersionId"]
    environment = stack.client("lambda").get_function_configuration(
        FunctionName=stack.physical_id("IngestFileFunction")
    )["Environment"]["Variables"]
    settings = IngestSettings.model_validate(environment).model_copy(update={"batch_bytes": 4096})
    ports = wiring.ingest_ports_from(settings)
    real_check = Matcher.of_erased_among
    checks = 0

    def erase_ann_before_the_second_batch(store: PrivacyStore, *args: Any) -> Matcher | None:
        nonlocal checks
        checks += 1
        if checks == 2:
            erase_identifiers(store, [("email", ANN[1])], ports.salt, datetime.now(UTC))
        return real_check(store, *args)

    # When: her erasure finishes between the first and the second batch
    with mock.patch.object(Matcher, "of_erased_among", erase_ann_before_the_second_batch):
        report = ingest_dropped_file(
            ports, DroppedFile(bucket, "orders/ann.csv", version, ""), settings, datetime.now(UTC), "me"
        )
    # Then: her first line went in with the first batch; her last line is quarantined as erased, without content
    assert checks == report.batches > 2
    assert (report.rows_in, report.rows_accepted, report.quarantine_reasons) == (600, 599, {"erased_subject": 1})
    assert report.rows_in == report.rows_accepted + report.rows_quarantined
    quarantine = stack.physical_id("QuarantineBucket")
    listed = s3.list_objects_v2(Bucket=quarantine, Prefix="rows/").get("Contents", [])
    records = [json.loads(line) for item in listed
               for line in s3.get_object(Bucket=quarantine, Key=item["Key"])["Body"].read().splitlines()]  # fmt: skip
    assert [(record["reason"], record["line"], "row" in record) for record in records] == [("erased_subject", 601, False)]
