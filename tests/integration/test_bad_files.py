"""Hostile and broken file drops are quarantined whole with a reason; nothing crashes or retries forever."""

from __future__ import annotations

import gzip
import json

import pytest
from cdp_local.runner import build_report
from cdp_local.stack import LocalStack


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("orders/garbage.csv", bytes(range(256)) * 40, "binary_content"),
        ("orders/binary.csv", b"\xff\xfe\x00\x01" * 100, "undecodable_text"),
        (
            "orders/truncated.csv.gz",
            gzip.compress(b"".join(b"O%d,C%d\n" % (i, i * 7919) for i in range(5000)))[:2000],
            "truncated_gzip",
        ),
        ("orders/empty.csv", b"", "empty_file"),
        ("customers/header-only.csv", b"customer_id,email\n", "header_only"),
        ("invoices/2024.csv", b"a,b\n1,2\n", "unknown_mapping"),
        ("orders/wrong-columns.csv", b"id,total\n1,2\n", "missing_columns"),
    ],
)
def test_an_unreadable_file_is_quarantined_whole(stack: LocalStack, key: str, body: bytes, reason: str) -> None:
    # When
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key=key, Body=body)
    # Then: reported once, copied to quarantine with its reason, and no async failure or retry
    [report] = build_report(stack)["files"]
    assert (report["key"], report["file_error"]) == (key, reason)
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]
    quarantine = stack.physical_id("QuarantineBucket")
    [stored] = stack.client("s3").list_objects_v2(Bucket=quarantine, Prefix="files/")["Contents"]
    head = stack.client("s3").head_object(Bucket=quarantine, Key=stored["Key"])
    assert head["Metadata"]["reason"] == reason
    assert stack.async_failures == []


def test_quarantined_rows_keep_their_line_reason_and_original_content(stack: LocalStack) -> None:
    # Given
    body = (
        b"order_id,customer_id,ordered_at,currency,total_amount,items,category,status\nO1,C1,nope,GBP,1,1,x,completed\n"
    )
    # When
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/o.csv", Body=body)
    # Then
    quarantine = stack.physical_id("QuarantineBucket")
    [stored] = stack.client("s3").list_objects_v2(Bucket=quarantine, Prefix="rows/")["Contents"]
    line = json.loads(stack.client("s3").get_object(Bucket=quarantine, Key=stored["Key"])["Body"].read())
    assert (line["line"], line["reason"], line["row"]["ordered_at"]) == (2, "invalid_timestamp", "nope")
