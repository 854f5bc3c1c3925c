"""Hostile and broken file drops: unreadable ones are quarantined whole with a reason, a few bad lines only their
rows; nothing crashes or retries forever."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pytest
from cdp_local.runner import build_report
from cdp_local.stack import LocalStack

HEADER = b"order_id,line_id,customer_id,email,ordered_at,currency,sku,quantity,unit_price,status\n"
GUEST_LINES = b"".join(b"O%d,1,,,2024-01-01T10:00:00Z,GBP,S,1,1.00,completed\n" % number for number in range(3000))


def _ledger_reports(stack: LocalStack) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.physical_id("LedgerTable"))["Items"]
    reports = [json.loads(item["report"]["S"]) for item in items if "report" in item]
    for report in reports:
        assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"], report
    return reports


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("orders/garbage.csv", bytes(range(256)) * 40, "binary_content"),
        ("orders/binary.csv", b"\xff\xfe\x00\x01" * 100, "undecodable_text"),
        (
            "orders/truncated.csv.gz",
            gzip.compress(b"".join(b"O%d,C%d\n" % (i, i * 7919) for i in range(5000)), mtime=0)[:12],
            "truncated_gzip",
        ),
        ("orders/empty.csv", b"", "empty_file"),
        ("orders/späce and ünïcode %2F.csv", b"\n\n", "empty_file"),
        ("customers/header-only.csv", b"customer_id,email\n", "header_only"),
        ("invoices/2024.csv", b"a,b\n1,2\n", "unknown_mapping"),
        ("orders/wrong-columns.csv", b"id,total\n1,2\n", "missing_columns"),
        ("orders/fake.parquet", b"PAR1 this is not parquet", "not_parquet"),
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
    assert head["ContentLength"] == len(body)
    assert stack.async_failures == []


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [(b"{not json", "invalid_manifest"), (b'{"mapping": "no_such_mapping"}', "unknown_mapping")],
)
def test_a_bad_manifest_quarantines_its_data_file(stack: LocalStack, manifest: bytes, reason: str) -> None:
    # Given
    raw = stack.physical_id("RawBucket")
    stack.client("s3").put_object(Bucket=raw, Key="orders/o.csv.manifest.json", Body=manifest)
    # When
    stack.client("s3").put_object(Bucket=raw, Key="orders/o.csv", Body=HEADER + GUEST_LINES[:200])
    # Then: the manifest itself is not ingested; the data file is quarantined with the manifest's fault
    [report] = _ledger_reports(stack)
    assert (report["key"], report["file_error"], report["rows_in"]) == ("orders/o.csv", reason, 0)
    assert stack.async_failures == []


def test_quarantined_rows_keep_their_line_reason_and_original_content(stack: LocalStack) -> None:
    # Given
    body = HEADER + b"O1,1,C1,,nope,GBP,S,1,1,completed\n"
    # When
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/o.csv", Body=body)
    # Then
    quarantine = stack.physical_id("QuarantineBucket")
    [stored] = stack.client("s3").list_objects_v2(Bucket=quarantine, Prefix="rows/")["Contents"]
    assert stored["Key"].startswith("rows/orders/")
    line = json.loads(stack.client("s3").get_object(Bucket=quarantine, Key=stored["Key"])["Body"].read())
    assert (line["line"], line["reason"], line["row"]["ordered_at"]) == (2, "invalid_timestamp", "nope")


def test_a_gzip_truncated_mid_stream_keeps_the_rows_read_and_a_fixed_redrop_adds_only_the_rest(
    stack: LocalStack,
) -> None:
    # Given: small read batches, so the fault comes after several batches were accepted
    functions = stack.client("lambda")
    name = stack.physical_id("IngestFileFunction")
    variables = functions.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    functions.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**{k: str(v) for k, v in variables.items()}, "INGEST_BATCH_BYTES": "4096"}}
    )
    complete = gzip.compress(HEADER + GUEST_LINES, mtime=0)
    raw = stack.physical_id("RawBucket")
    # When: the export is dropped cut short, then dropped again whole
    stack.client("s3").put_object(Bucket=raw, Key="orders/cut.csv.gz", Body=complete[: len(complete) * 2 // 3])
    [cut] = _ledger_reports(stack)
    stack.client("s3").put_object(Bucket=raw, Key="orders/cut.csv.gz", Body=complete)
    # Then: the rows read before the fault stay accepted; the report says where reading stopped
    assert cut["file_error"] == "truncated_gzip"
    # (the line the stream was cut in is quarantined as truncated_gzip: reading stops there)
    assert cut["quarantine_reasons"] == {"truncated_gzip": 1}
    assert 0 < cut["rows_accepted"] == cut["rows_in"] - 1 < 3000
    assert cut["unread_from_line"] == cut["rows_in"] + 1
    # Then: the fixed file adds only the missing rows; together every row is accepted once
    [fixed] = [report for report in _ledger_reports(stack) if report["file_id"] != cut["file_id"]]
    assert fixed["file_error"] is None
    assert fixed["quarantine_reasons"] == {"duplicate_of_earlier_file": cut["rows_accepted"]}
    assert cut["rows_accepted"] + fixed["rows_accepted"] == 3000
    assert stack.async_failures == []


def test_a_nul_byte_quarantines_its_row_not_the_file(stack: LocalStack) -> None:
    # Given: five rows, two of them holding a NUL byte
    rows = [b"O%d,1,C%d,,2024-01-01T10:00:00Z,GBP,S,1,1.00,completed\n" % (n, n) for n in range(5)]
    rows[1] = rows[1].replace(b",S,", b",S\x00,")
    rows[3] = rows[3].replace(b"GBP", b"G\x00BP")
    # When
    stack.client("s3").put_object(
        Bucket=stack.physical_id("RawBucket"), Key="orders/nul.csv", Body=HEADER + b"".join(rows)
    )
    # Then: the three readable rows are accepted, the two others quarantined with their lines
    [report] = build_report(stack)["files"]
    assert (report["file_error"], report["rows_in"], report["rows_accepted"]) == (None, 5, 3)
    assert report["quarantine_reasons"] == {"binary_content": 2}
    quarantine = stack.physical_id("QuarantineBucket")
    [stored] = stack.client("s3").list_objects_v2(Bucket=quarantine, Prefix="rows/")["Contents"]
    body = stack.client("s3").get_object(Bucket=quarantine, Key=stored["Key"])["Body"].read().decode()
    assert sorted(json.loads(line)["line"] for line in body.splitlines()) == [3, 5]


def test_a_small_truncated_gzip_keeps_its_complete_rows_and_reports_where_it_ends(stack: LocalStack) -> None:
    # Given: a gzip export cut inside its first read block, mid-line
    content = HEADER + GUEST_LINES[:20_000]
    compressed = gzip.compress(content, mtime=0)
    cut = compressed[: len(compressed) // 3]
    inflated = gzip.GzipFile(fileobj=io.BytesIO(cut)).read1(1 << 20)
    complete_rows = inflated.count(b"\n") - 1
    # When
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/cut-small.csv.gz", Body=cut)
    # Then: every complete row inflated before the cut is accepted, the partial one quarantined, and the report
    # says how many bytes were decompressed
    [report] = build_report(stack)["files"]
    assert complete_rows > 50 and not inflated.endswith(b"\n")
    assert (report["file_error"], report["rows_accepted"]) == ("truncated_gzip", complete_rows)
    assert report["quarantine_reasons"] == {"truncated_gzip": 1}
    assert report["file_error_detail"] == f"the gzip stream ends after {len(inflated)} decompressed bytes"
    assert stack.async_failures == []


@pytest.mark.parametrize(
    ("key", "body"),
    [
        (
            "customers/huge.jsonl",
            b"".join(
                json.dumps({"customer_id": f"C{n}", "email": f"c{n}@example.com", "city": city}).encode() + b"\n"
                for n, city in enumerate(["Leeds", "x" * 5 * 1024 * 1024, "York"])
            ),
        ),
        (
            "customers/huge.csv",
            b'customer_id,email,city\nC0,c0@example.com,Leeds\nC1,c1@example.com,"'
            + b"x\n" * (5 * 512 * 1024)
            + b'"\nC2,c2@example.com,York\n',
        ),
    ],
)
def test_a_5_mb_field_quarantines_its_row_and_the_others_reach_profiles(
    stack: LocalStack, key: str, body: bytes
) -> None:
    # Given: a 5 MB value in the middle row (JSON Lines; CSV, quoted over many lines)
    # When
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key=key, Body=body)
    # Then: that row is quarantined with its column, the two others are applied, nothing is dead-lettered
    report = build_report(stack)
    [file] = report["files"]
    assert (file["file_error"], file["rows_in"], file["rows_accepted"]) == (None, 3, 2)
    assert file["quarantine_reasons"] == {"out_of_range:city": 1}
    assert file["profile_batches_applied"] == file["profile_batches"] > 0
    assert (report["profiles"], report["dead_letters"], stack.async_failures) == (2, [], [])
