"""The local Firehose conversion converts a batch's good records and sends each one its schema cannot hold to the
error prefix, alone."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

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
    # When the batch is delivered
    answers = ParquetConversion(REGION, ACCOUNT).put_s3_records("stream", "1", destination, records)
    # Then every record is answered, the good ones are in Parquet and each bad one is in the error document
    assert answers is not None and len(answers) == 3
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="converted").get("Contents", [])]
    converted = [row for key in keys if key.startswith("ok/")
                 for row in pq.read_table(io.BytesIO(s3.get_object(Bucket="converted", Key=key)["Body"].read())).to_pylist()]  # fmt: skip
    assert converted == [{"name": f"n{n}", "count": n} for n in range(3) if n not in bad]
    errors = [json.loads(line) for key in keys if key.startswith("failed/format-conversion-failed/")
              for line in s3.get_object(Bucket="converted", Key=key)["Body"].read().splitlines()]  # fmt: skip
    assert len(errors) == len(bad)
