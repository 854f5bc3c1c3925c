"""A file above the size threshold is ingested by the large-file state machine (the real ASL, in moto's
interpreter): planned into line-aligned byte ranges, each range ingested by its own invocation, and the ranges'
accounting summed into the file ledger."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cdp_local.stack import LocalStack

HEADER = "order_id,line_id,customer_id,email,ordered_at,currency,sku,quantity,unit_price,status\n"
ROWS = 60
BAD_LINES = {10: "not-a-date", 45: "31/02/2024"}  # file line -> a bad ordered_at


def _line(number: int) -> str:
    ordered_at = BAD_LINES.get(number, f"2024-03-{1 + number % 28:02d}T10:00:00Z")
    return f"O{number},1,C{number % 7},c{number % 7}@example.com,{ordered_at},GBP,SKU{number % 5},1,9.99,completed\n"


LARGE_FILE = (HEADER + "".join(_line(number) for number in range(2, ROWS + 2))).encode()


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    # A tiny threshold and range size force a 4 KB file down the large-file path, in many ranges.
    with LocalStack(parameters={"LargeFileThresholdBytes": "1000", "IngestRangeBytes": "700"}) as local_stack:
        yield local_stack


def _file_reports(stack: LocalStack) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.physical_id("LedgerTable"))["Items"]
    return [json.loads(item["report"]["S"]) for item in items if "report" in item]


def _curated_lines(stack: LocalStack) -> list[int]:
    bucket = stack.physical_id("CuratedBucket")
    s3 = stack.client("s3")
    tables = [
        pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="orders/").get("Contents", [])
    ]
    return sorted(pa.concat_tables(tables).column("source_line").to_pylist())


def test_a_large_file_is_split_into_ranges_and_every_row_is_accounted_for(stack: LocalStack) -> None:
    # When
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/big.csv", Body=LARGE_FILE)
    stack.wait_for_executions(timeout=120)
    # Then: one successful execution, several ranges, and the file's accounting adds up
    [execution] = stack.executions("IngestLargeFileStateMachine")
    assert execution["status"] == "SUCCEEDED"
    [report] = _file_reports(stack)
    assert report["ranges"] > 3
    assert (report["rows_in"], report["rows_accepted"], report["rows_quarantined"]) == (ROWS, ROWS - 2, 2)
    assert report["quarantine_reasons"] == {"invalid_timestamp": 2}
    # Then: every row kept its own file line number across ranges
    assert _curated_lines(stack) == [line for line in range(2, ROWS + 2) if line not in BAD_LINES]
    quarantine = stack.physical_id("QuarantineBucket")
    s3 = stack.client("s3")
    quarantined = [
        json.loads(line)
        for item in s3.list_objects_v2(Bucket=quarantine, Prefix="rows/").get("Contents", [])
        for line in s3.get_object(Bucket=quarantine, Key=item["Key"])["Body"].read().splitlines()
    ]
    assert sorted((row["line"], row["row"]["ordered_at"]) for row in quarantined) == sorted(BAD_LINES.items())
    assert stack.async_failures == []


def test_a_redelivered_large_file_starts_no_second_execution(stack: LocalStack) -> None:
    # Given
    bucket = stack.physical_id("RawBucket")
    stack.client("s3").put_object(Bucket=bucket, Key="orders/big.csv", Body=LARGE_FILE)
    stack.wait_for_executions(timeout=120)
    # When: S3 delivers the same version again
    event = stack.object_created_event(bucket, "orders/big.csv")
    answer = stack.invoke("IngestFileFunction", event)
    stack.wait_for_executions(timeout=60)
    # Then
    assert answer["files"][0]["duplicate_delivery"] is True
    assert len(stack.executions("IngestLargeFileStateMachine")) == 1
    assert len(_file_reports(stack)) == 1


def test_a_fault_inside_one_range_quarantines_the_file_and_the_other_ranges_still_add_up(stack: LocalStack) -> None:
    # Given: binary garbage in the middle of the file (one range cannot be read)
    middle = LARGE_FILE.index(b"\n", len(LARGE_FILE) // 2) + 1
    body = LARGE_FILE[:middle] + b"\x00\x01\x02\x03" * 100 + b"\n" + LARGE_FILE[middle:]
    # When
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key="orders/broken.csv", Body=body)
    stack.wait_for_executions(timeout=120)
    # Then: the execution finished, the file is quarantined whole with the fault, the rest was ingested
    [execution] = stack.executions("IngestLargeFileStateMachine")
    assert execution["status"] == "SUCCEEDED"
    [report] = _file_reports(stack)
    assert report["file_error"] is not None
    assert 0 < report["rows_accepted"] < ROWS
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]
    quarantine = stack.physical_id("QuarantineBucket")
    [stored] = stack.client("s3").list_objects_v2(Bucket=quarantine, Prefix="files/")["Contents"]
    assert stack.client("s3").head_object(Bucket=quarantine, Key=stored["Key"])["Metadata"]["reason"] == report["file_error"]
