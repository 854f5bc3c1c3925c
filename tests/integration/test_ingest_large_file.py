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


def _curated_column(stack: LocalStack, name: str) -> list[tuple[int, Any]]:
    """(source_line, value of `name`) of every curated order line."""
    bucket = stack.physical_id("CuratedBucket")
    s3 = stack.client("s3")
    tables = [
        pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="orders/").get("Contents", [])
    ]
    curated = pa.concat_tables(tables)
    return list(zip(curated.column("source_line").to_pylist(), curated.column(name).to_pylist()))


def _ingest_large_file(stack: LocalStack, key: str, body: bytes) -> dict[str, Any]:
    """Drop the file, let its one execution run to success, and return the file's report from the ledger."""
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key=key, Body=body)
    stack.wait_for_executions(timeout=180)
    [execution] = stack.executions("IngestLargeFileStateMachine")
    assert execution["status"] == "SUCCEEDED"
    [report] = _file_reports(stack)
    return report


def test_a_large_file_is_split_into_ranges_and_every_row_is_accounted_for(stack: LocalStack) -> None:
    # When
    report = _ingest_large_file(stack, "orders/big.csv", LARGE_FILE)
    # Then: one successful execution, several ranges, and the file's accounting adds up
    assert report["ranges"] > 3
    assert (report["rows_in"], report["rows_accepted"], report["rows_quarantined"]) == (ROWS, ROWS - 2, 2)
    assert report["quarantine_reasons"] == {"invalid_timestamp": 2}
    # Then: every row kept its own file line number across ranges
    assert sorted(line for line, _ in _curated_column(stack, "order_id")) == [
        line for line in range(2, ROWS + 2) if line not in BAD_LINES
    ]
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


def test_control_bytes_inside_one_range_quarantine_their_row_and_every_range_adds_up(stack: LocalStack) -> None:
    # Given: a line of control bytes in the middle of the file (too little for the planner to call the whole file
    # binary from its start)
    middle = LARGE_FILE.index(b"\n", len(LARGE_FILE) // 2) + 1
    body = LARGE_FILE[:middle] + b"\x01\x02\x03\x04" * 10 + b"\n" + LARGE_FILE[middle:]
    # When
    report = _ingest_large_file(stack, "orders/broken.csv", body)
    # Then: that line alone is quarantined with its reason (control bytes), besides the file's two bad timestamps;
    # every other row of every range is accepted
    assert report["file_error"] is None
    assert (report["rows_in"], report["rows_accepted"], report["rows_quarantined"]) == (ROWS + 1, ROWS - 2, 3)
    assert report["quarantine_reasons"] == {"invalid_timestamp": 2, "binary_content": 1}


PRODUCT_NAMES = ['"Mug\nwith ""handle"", blue"', "Plate", '"Bowl\n\n(set of 2)"', '5" frame', '"Cup,\r\nsaucer"']


def _multiline_file(rows: int) -> tuple[bytes, list[tuple[int, str]]]:
    """Orders whose quoted product names hold newlines, at many byte offsets; and each row's (line, name)."""
    text, expected, line = HEADER, [], 2
    for number in range(rows):
        written = PRODUCT_NAMES[number % len(PRODUCT_NAMES)]
        text += (
            f"O{number},1,C{number % 7},c{number % 7}@example.com,2024-03-01T10:00:00Z,GBP,SKU{number % 3},"
            f"1,{number % 13 + 1}.99,completed,{written}\n"
        )
        name = written[1:-1].replace('""', '"') if written.startswith('"') else written
        expected.append((line, name))
        line += written.count("\n") + 1
    return text.replace("unit_price,status\n", "unit_price,status,product_name\n", 1).encode(), expected


@pytest.mark.parametrize("range_bytes", ["61", "450"])
def test_quoted_newlines_are_never_cut_through_the_state_machine(range_bytes: str) -> None:
    # Given: tiny ranges over a file whose quoted fields hold newlines
    data, expected = _multiline_file(40)
    with LocalStack(parameters={"LargeFileThresholdBytes": "1000", "IngestRangeBytes": range_bytes}) as stack:
        # When
        report = _ingest_large_file(stack, "orders/notes.csv", data)
        # Then: every row accepted once, whole, with the physical line it starts on
        assert report["ranges"] > 5
        assert (report["rows_in"], report["rows_accepted"], report["rows_quarantined"]) == (40, 40, 0)
        assert sorted(_curated_column(stack, "product_name")) == expected
        assert stack.async_failures == []
