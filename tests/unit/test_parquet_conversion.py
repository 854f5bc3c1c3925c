"""The local Firehose conversion converts a batch's good records and sends each one its schema cannot hold to the
error prefix, alone; converted rows wait in a buffer per prefix until the stream's buffering hints are reached or
the bucket is read."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from cdp_local.delivery_streams import ParquetConversion
from moto import mock_aws

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    yield


def _table_and_bucket() -> None:
    glue = boto3.client("glue", region_name=REGION)
    glue.create_database(DatabaseInput={"Name": "db"})
    columns = [{"Name": "name", "Type": "string"}, {"Name": "count", "Type": "bigint"}]
    glue.create_table(DatabaseName="db", TableInput={"Name": "t", "StorageDescriptor": {"Columns": columns}})
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="converted", CreateBucketConfiguration={"LocationConstraint": REGION}
    )


def _objects() -> dict[str, list[dict[str, Any]]]:
    s3 = boto3.client("s3", region_name=REGION)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="converted").get("Contents", [])]
    return {key: pq.read_table(io.BytesIO(s3.get_object(Bucket="converted", Key=key)["Body"].read())).to_pylist()
            for key in keys}  # fmt: skip


@mock_aws
def test_rows_wait_in_one_buffer_per_prefix_until_the_size_hint_is_reached_or_the_bucket_is_delivered() -> None:
    # Given a stream partitioned by `kind`, whose size hint is 1 MB
    _table_and_bucket()
    destination = {
        "BucketARN": "arn:aws:s3:::converted", "Prefix": "rows/kind=!{partitionKeyFromQuery:kind}/",
        "ErrorOutputPrefix": "failed/", "FileExtension": ".parquet", "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 900},
        "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{kind: .kind}"}]}]},
        "DataFormatConversionConfiguration": {"Enabled": True, "SchemaConfiguration": {"DatabaseName": "db", "TableName": "t"}},
    }  # fmt: skip
    conversion = ParquetConversion(REGION, ACCOUNT)

    def put(kind: str, start: int, count: int, padding: int = 0) -> None:
        records = [{"Data": json.dumps({"name": f"n{n}", "count": n, "kind": kind, "pad": "x" * padding}).encode()}
                   for n in range(start, start + count)]  # fmt: skip
        assert len(conversion.put_s3_records("stream", "1", destination, records) or []) == count

    # When small batches of two kinds are put
    for start in range(0, 30, 10):
        put("a", start, 10)
        put("b", start, 5)
    # Then nothing is delivered yet; once the bucket's buffers are delivered, each kind is one object
    assert _objects() == {}
    conversion.deliver_buffered("other-bucket")
    assert _objects() == {}
    conversion.deliver_buffered("converted")
    delivered = _objects()
    assert sorted(key.split("/")[1] for key in delivered) == ["kind=a", "kind=b"]
    assert all(key.split("/")[2].startswith("stream-1-") and key.endswith(".parquet") for key in delivered)
    rows = {key.split("/")[1]: [row["count"] for row in found] for key, found in delivered.items()}
    assert rows == {"kind=a": list(range(30)), "kind=b": [n for start in range(0, 30, 10) for n in range(start, start + 5)]}
    # And a put that brings the stream's buffered records to the size hint delivers them without a read
    put("a", 100, 2, padding=400_000)
    assert len(_objects()) == 2
    put("a", 102, 1, padding=400_000)
    assert len(_objects()) == 3


@mock_aws
@pytest.mark.parametrize("bad", [[], [1], [0, 2]])
def test_records_the_schema_cannot_hold_fail_alone_and_the_rest_convert(bad: list[int]) -> None:
    # Given a Glue table (a string and a bigint column) and a batch where the records numbered `bad` hold a fraction
    glue = boto3.client("glue", region_name=REGION)
    glue.create_database(DatabaseInput={"Name": "db"})
    columns = [{"Name": "name", "Type": "string"}, {"Name": "count", "Type": "bigint"}]
    glue.create_table(DatabaseName="db", TableInput={"Name": "t", "StorageDescriptor": {"Columns": columns}})
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="converted", CreateBucketConfiguration={"LocationConstraint": REGION})
    records = [{"Data": json.dumps({"name": f"n{n}", "count": 1.5 if n in bad else n}).encode()} for n in range(3)]
    destination = {
        "BucketARN": "arn:aws:s3:::converted", "Prefix": "ok/", "ErrorOutputPrefix": "failed/!{firehose:error-output-type}/",
        "DataFormatConversionConfiguration": {"Enabled": True, "SchemaConfiguration": {"DatabaseName": "db", "TableName": "t"}},
    }  # fmt: skip
    # When the batch is put and delivered
    conversion = ParquetConversion(REGION, ACCOUNT)
    answers = conversion.put_s3_records("stream", "1", destination, records)
    conversion.deliver_buffered("converted")
    # Then every record is answered, the good ones are in Parquet and each bad one is in the error document
    assert answers is not None and len(answers) == 3
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="converted").get("Contents", [])]
    converted = [row for key in keys if key.startswith("ok/")
                 for row in pq.read_table(io.BytesIO(s3.get_object(Bucket="converted", Key=key)["Body"].read())).to_pylist()]  # fmt: skip
    assert converted == [{"name": f"n{n}", "count": n} for n in range(3) if n not in bad]
    errors = [json.loads(line) for key in keys if key.startswith("failed/format-conversion-failed/")
              for line in s3.get_object(Bucket="converted", Key=key)["Body"].read().splitlines()]  # fmt: skip
    assert len(errors) == len(bad)
