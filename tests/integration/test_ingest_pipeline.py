"""File drops through the local stack: accounting, cross-file dedupe, idempotent redelivery, curated partitions."""

from __future__ import annotations

import gzip
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from cdp import wiring
from cdp.adapters.file_ledger import FileLedger
from cdp.clean.entities import ENTITIES
from cdp.clean.table import clean_table
from cdp.ingest import pipeline
from cdp.ingest.pipeline import DroppedFile, FileBeingIngested, ingest_dropped_file
from cdp.settings import IngestSettings
from cdp_local.runner import build_report
from cdp_local.stack import LocalStack
from cdp_local.template import load_template

RETENTION = timedelta(days=400)
HEADER = "order_id,line_id,customer_id,email,ordered_at,currency,sku,quantity,unit_price,status\n"


def _orders(*lines: str) -> bytes:
    return (HEADER + "".join(line + "\n" for line in lines)).encode()


FIRST_FILE = _orders(
    "O1,1,C1,a@example.com,2024-01-01T10:00:00Z,GBP,SKU1,1,10.00,completed",
    "O1,2,C1,a@example.com,2024-01-01T10:00:00Z,GBP,SKU2,2,5.00,completed",
    "O2,1,C2,b@example.com,2024-01-02T11:00:00Z,GBP,SKU1,1,10.00,completed",
    "O3,1,C3,c@example.com,not-a-date,GBP,SKU1,1,10.00,completed",
)
SECOND_FILE = _orders(
    "O2,1,C2,b@example.com,2024-01-02T11:00:00Z,GBP,SKU1,1,10.00,completed",
    "O4,1,,,2024-01-03T09:00:00Z,GBP,SKU3,1,7.50,completed",
)


def _drop(stack: LocalStack, key: str, body: bytes) -> str:
    return stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key=key, Body=body)["VersionId"]


def _files(stack: LocalStack) -> list[dict[str, Any]]:
    """Every finished file report in the ledger, each checked: rows in = accepted + quarantined."""
    items = stack.client("dynamodb").scan(TableName=stack.physical_id("LedgerTable"))["Items"]
    files = [json.loads(item["report"]["S"]) for item in items if "report" in item]
    assert len(files) == len(build_report(stack)["files"])
    for file in files:
        assert file["rows_in"] == file["rows_accepted"] + file["rows_quarantined"], file
    return files


def _quarantined_rows(stack: LocalStack) -> list[dict[str, Any]]:
    bucket = stack.physical_id("QuarantineBucket")
    s3 = stack.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="rows/").get("Contents", [])
    return [
        json.loads(line)
        for item in listed
        for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().splitlines()
    ]


def _curated(stack: LocalStack, folder: Path) -> ds.Dataset:
    """Download the curated bucket and open it as analysts would: a hive-partitioned Parquet dataset."""
    bucket = stack.physical_id("CuratedBucket")
    s3 = stack.client("s3")
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        path = folder / item["Key"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return ds.dataset(folder / "orders", format="parquet", partitioning="hive")


def _settings(stack: LocalStack) -> IngestSettings:
    environment = stack.client("lambda").get_function_configuration(
        FunctionName=stack.physical_id("IngestFileFunction")
    )["Environment"]["Variables"]
    return IngestSettings.model_validate(environment)


def test_rows_are_accepted_or_quarantined_with_line_reason_and_original_content(stack: LocalStack) -> None:
    # When
    _drop(stack, "orders/first.csv", FIRST_FILE)
    # Then
    [report] = _files(stack)
    assert (report["rows_in"], report["rows_accepted"], report["quarantine_reasons"]) == (
        4,
        3,
        {"invalid_timestamp": 1},
    )
    [row] = _quarantined_rows(stack)
    assert (row["line"], row["reason"], row["row"]["ordered_at"], row["source_key"]) == (
        5,
        "invalid_timestamp",
        "not-a-date",
        "orders/first.csv",
    )
    assert stack.async_failures == []


def test_a_row_accepted_from_an_earlier_file_is_quarantined_as_its_duplicate(stack: LocalStack, tmp_path: Path) -> None:
    # Given
    first_version = _drop(stack, "orders/first.csv", FIRST_FILE)
    # When
    _drop(stack, "orders/second.csv", SECOND_FILE)
    # Then: O2/1 is quarantined, naming where it was first accepted; the guest line O4 is kept
    second = next(file for file in _files(stack) if file["key"] == "orders/second.csv")
    assert (second["rows_accepted"], second["quarantine_reasons"]) == (1, {"duplicate_of_earlier_file": 1})
    duplicate = next(row for row in _quarantined_rows(stack) if row["reason"] == "duplicate_of_earlier_file")
    assert (duplicate["line"], duplicate["row"]["order_id"]) == (2, "O2")
    assert duplicate["duplicate_of"] == {"source_key": "orders/first.csv", "source_version": first_version, "line": 4}
    # Then: the curated data holds every order line once
    table = _curated(stack, tmp_path).to_table()
    keys = sorted(zip(table.column("order_id").to_pylist(), table.column("line_id").to_pylist()))
    assert keys == [("O1", "1"), ("O1", "2"), ("O2", "1"), ("O4", "1")]


def test_dedupe_costs_one_write_request_per_hundred_new_rows_and_no_read(stack: LocalStack) -> None:
    # Given: 250 new order lines
    body = _orders(*(f"O{n},1,C{n},,2024-01-01T10:00:00Z,GBP,S,1,1.00,completed" for n in range(250)))
    # When
    _drop(stack, "orders/many.csv", body)
    # Then: three transactions and the file's NATURALKEYFILE item
    [report] = _files(stack)
    assert report["rows_accepted"] == 250
    assert (report["natural_key_read_requests"], report["natural_key_write_requests"]) == (0, 4)


def test_the_same_version_delivered_twice_changes_nothing(stack: LocalStack) -> None:
    # Given
    _drop(stack, "orders/first.csv", FIRST_FILE)
    notification = stack.object_created_event(stack.physical_id("RawBucket"), "orders/first.csv")
    curated_before = _object_etags(stack, "CuratedBucket")
    # When: S3 delivers the same event again
    answer = stack.invoke("IngestFileFunction", notification)
    # Then
    assert answer["files"][0]["duplicate_delivery"] is True
    assert len(_files(stack)) == 1
    assert _object_etags(stack, "CuratedBucket") == curated_before


def test_a_redrop_of_the_same_content_adds_nothing_to_curated_data(stack: LocalStack) -> None:
    # Given
    _drop(stack, "orders/first.csv", FIRST_FILE)
    curated_before = _object_etags(stack, "CuratedBucket")
    # When: the same bytes are dropped again (a new object version)
    _drop(stack, "orders/first.csv", FIRST_FILE)
    # Then: every valid row of the new version is a duplicate of the first one
    files = _files(stack)
    assert len(files) == 2
    redrop = [file for file in files if file["rows_accepted"] == 0]
    assert redrop[0]["quarantine_reasons"] == {"duplicate_of_earlier_file": 3, "invalid_timestamp": 1}
    assert _object_etags(stack, "CuratedBucket") == curated_before


def test_concurrent_deliveries_of_one_version_ingest_it_once(stack: LocalStack) -> None:
    # Given: the object is in the bucket (its own notification already ingested it: forget that report)
    version = _drop(stack, "orders/concurrent.csv", FIRST_FILE)
    ledger = FileLedger(stack.physical_id("LedgerTable"))
    ledger.table.delete_item(Key={"pk": f"FILE#{stack.physical_id('RawBucket')}/orders/concurrent.csv", "sk": f"VERSION#{version}"})
    dropped = DroppedFile(stack.physical_id("RawBucket"), "orders/concurrent.csv", version, "")
    settings = _settings(stack)
    outcomes: list[Any] = []

    def deliver(owner: str) -> None:
        try:
            outcomes.append(ingest_dropped_file(wiring.ingest_ports_from(settings), dropped, settings, datetime.now(UTC), owner).as_dict())
        except FileBeingIngested as busy:
            outcomes.append(busy)

    # When: two invocations race
    threads = [threading.Thread(target=deliver, args=(owner,)) for owner in ("invocation-1", "invocation-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then: one ingested; the other found it busy (Lambda retries it later) or already done
    ingested = [outcome for outcome in outcomes if isinstance(outcome, dict) and not outcome["duplicate_delivery"]]
    assert len(ingested) == 1
    assert ingested[0]["quarantine_reasons"].get("duplicate_of_earlier_file", 0) == 0
    assert all(isinstance(outcome, FileBeingIngested) or outcome["duplicate_delivery"] for outcome in outcomes if outcome is not ingested[0])


def test_a_live_claim_makes_a_second_delivery_fail_and_an_expired_one_is_taken_over(stack: LocalStack) -> None:
    # Given: another invocation claimed the version and is still within its lease
    version = _drop(stack, "orders/other.csv", FIRST_FILE)
    bucket = stack.physical_id("RawBucket")
    ledger = FileLedger(stack.physical_id("LedgerTable"))
    ledger.table.delete_item(Key={"pk": f"FILE#{bucket}/orders/other.csv", "sk": f"VERSION#{version}"})
    now = datetime.now(UTC)
    from datetime import timedelta

    assert ledger.claim(bucket, "orders/other.csv", version, "crashed", now, timedelta(seconds=60)).state == "claimed"
    dropped = DroppedFile(bucket, "orders/other.csv", version, "")
    # When / Then: a second delivery is refused while the lease runs
    with pytest.raises(FileBeingIngested):
        ingest_dropped_file(wiring.ingest_ports_from(_settings(stack)), dropped, _settings(stack), now, "retry")
    # When / Then: once the lease has run out, the retry takes the file over and finishes it
    report = ingest_dropped_file(wiring.ingest_ports_from(_settings(stack)), dropped, _settings(stack), now + timedelta(seconds=120), "retry")
    assert report.rows_in == 4 and not report.duplicate_delivery
    assert ledger.report_of(bucket, "orders/other.csv", version) is not None


def test_curated_parquet_is_partitioned_by_order_date_with_lineage(stack: LocalStack, tmp_path: Path) -> None:
    # When
    version = _drop(stack, "orders/first.csv", gzip.compress(FIRST_FILE))
    # Then
    dataset = _curated(stack, tmp_path)
    table = dataset.to_table().sort_by([("order_id", "ascending"), ("line_id", "ascending")])
    assert sorted(set(table.column("dt").to_pylist())) == ["2024-01-01", "2024-01-02"]
    assert table.column("source_line").to_pylist() == [2, 3, 4]
    assert set(table.column("source_version").to_pylist()) == {version}
    assert table.schema.field("ordered_at").type == pa.timestamp("us", tz="UTC")


def test_the_glue_tables_declare_the_curated_columns_and_types(stack: LocalStack) -> None:
    # Given: the Glue type of each Arrow type the curated Parquet holds
    glue_type = {
        pa.string(): "string",
        pa.int64(): "bigint",
        pa.bool_(): "boolean",
        pa.date32(): "date",
        pa.timestamp("us", tz="UTC"): "timestamp",
        pa.decimal128(18, 4): "decimal(18,4)",
    }
    resources = load_template()["Resources"]
    for name, spec in ENTITIES.items():
        # When: the curated schema of the entity (clean_table's accepted columns, then lineage)
        raw = pa.table({column: pa.array([None], pa.string()) for column in spec.column_names})
        accepted = clean_table(spec, raw, pa.array([2], pa.int64())).accepted
        expected = [(field.name, glue_type[field.type]) for field in accepted.schema if field.name != "source_line"]
        expected += [("source_key", "string"), ("source_version", "string"), ("source_line", "bigint")]
        # Then
        table_input = resources[f"Curated{name.capitalize()}Table"]["Properties"]["TableInput"]
        declared = [(column["Name"], column["Type"]) for column in table_input["StorageDescriptor"]["Columns"]]
        assert declared == expected, name
        assert table_input["Parameters"]["projection.dt.type"] == "date"


def _object_etags(stack: LocalStack, bucket_logical_id: str) -> dict[str, str]:
    listed = stack.client("s3").list_objects_v2(Bucket=stack.physical_id(bucket_logical_id)).get("Contents", [])
    return {item["Key"]: item["ETag"] for item in listed}


def test_a_parquet_file_is_ingested_end_to_end(stack: LocalStack) -> None:
    # Given: an orders export written as Parquet (strings, as a warehouse export would be)
    table = pa.table(
        {
            "order_id": ["P1", "P2"],
            "line_id": ["1", "1"],
            "customer_id": ["C9", "C9"],
            "ordered_at": ["2024-05-01T10:00:00Z", "yesterday"],
            "currency": ["EUR", "EUR"],
            "quantity": ["1", "1"],
            "unit_price": ["3.50", "3.50"],
            "status": ["completed", "completed"],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    # When
    _drop(stack, "orders/export.parquet", buffer.getvalue())
    # Then
    [report] = _files(stack)
    assert (report["rows_in"], report["rows_accepted"], report["quarantine_reasons"]) == (
        2,
        1,
        {"invalid_timestamp": 1},
    )
    assert report["file_error"] is None


def test_a_gbk_gzip_file_named_by_its_manifest_is_ingested_end_to_end(stack: LocalStack) -> None:
    # Given: a Chinese shop's export in GBK, gzip-compressed, with a manifest saying so
    body = (
        "customer_id,email,first_name,last_name,city,country\n"
        "K1,wang@example.cn,伟,王,北京,CN\n"
        "K2,li@example.cn,娜,李,上海,CN\n"
    ).encode("gbk")
    manifest = {"mapping": {**_canonical_customers(), "encoding": "gbk", "format": "csv"}}
    raw_bucket = stack.physical_id("RawBucket")
    stack.client("s3").put_object(
        Bucket=raw_bucket, Key="customers/cn.csv.gz.manifest.json", Body=json.dumps(manifest).encode()
    )
    # When
    _drop(stack, "customers/cn.csv.gz", gzip.compress(body))
    # Then: the manifest is not a data file; the names are decoded
    [report] = _files(stack)
    assert (report["key"], report["rows_accepted"], report["file_error"]) == ("customers/cn.csv.gz", 2, None)
    cities = [row["city"] for row in _curated_rows(stack, "customers")]
    assert sorted(cities) == ["上海", "北京"]


def _canonical_customers() -> dict[str, Any]:
    from cdp.ingest.mappings import mapping_for

    return mapping_for("customers/x.csv", None).model_dump(mode="json")


def _curated_rows(stack: LocalStack, entity: str) -> list[dict[str, Any]]:
    bucket = stack.physical_id("CuratedBucket")
    s3 = stack.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{entity}/").get("Contents", [])
    rows: list[dict[str, Any]] = []
    for item in listed:
        rows += pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())).to_pylist()
    return rows


def test_a_retry_after_a_crash_mid_file_overwrites_and_duplicates_nothing(stack: LocalStack, tmp_path: Path) -> None:
    # Given: a file read in several batches, whose ingestion crashes on the third batch
    body = _orders(*(f"O{n},1,,,2024-01-0{1 + n % 3}T10:00:00Z,GBP,S,1,1.00,completed" for n in range(600)))
    bucket = stack.physical_id("RawBucket")
    s3 = stack.client("s3")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})  # deliver by hand
    version = s3.put_object(Bucket=bucket, Key="orders/crash.csv", Body=body)["VersionId"]
    dropped = DroppedFile(bucket, "orders/crash.csv", version, "")
    settings = _settings(stack).model_copy(update={"batch_bytes": 4096})
    real_write = pipeline.write_curated
    calls = 0

    def crash_on_third_batch(*args: Any, **kwargs: Any) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionError("the function was killed")
        return real_write(*args, **kwargs)

    with mock.patch.object(pipeline, "write_curated", crash_on_third_batch), pytest.raises(ConnectionError):
        ingest_dropped_file(wiring.ingest_ports_from(settings), dropped, settings, datetime.now(UTC), "first-attempt")
    written_before_crash = set(_object_etags(stack, "CuratedBucket"))
    # When: Lambda retries the event
    report = ingest_dropped_file(wiring.ingest_ports_from(settings), dropped, settings, datetime.now(UTC), "second-attempt")
    # Then: every row once, in the same deterministic objects, and the accounting holds
    assert (report.rows_in, report.rows_accepted, report.quarantine_reasons, report.batches > 3) == (600, 600, {}, True)
    assert written_before_crash <= set(_object_etags(stack, "CuratedBucket"))
    table = _curated(stack, tmp_path).to_table()
    assert sorted(table.column("source_line").to_pylist()) == list(range(2, 602))


def test_natural_keys_expire_after_the_retention_through_the_tables_ttl(stack: LocalStack) -> None:
    # Given: the template's TTL on the ledger (moto's CloudFormation does not apply it), and an accepted order line
    ledger = stack.physical_id("LedgerTable")
    ttl = load_template()["Resources"]["LedgerTable"]["Properties"]["TimeToLiveSpecification"]
    _drop(stack, "orders/a.csv", _orders("O1,1,C1,,2024-01-01T10:00:00Z,GBP,S,1,1.00,completed"))
    # When
    item = stack.client("dynamodb").get_item(TableName=ledger, Key={"pk": {"S": "NATURALKEY#orders#O1#1"}, "sk": {"S": "NATURALKEY"}})
    # Then: the item expires the template's NaturalKeyRetentionDays (400) after it was accepted
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    remembered_for = int(item["Item"]["expires_at"]["N"]) - datetime.now(UTC).timestamp()
    assert timedelta(days=399, hours=23) < timedelta(seconds=remembered_for) <= RETENTION
    assert [(f["rows_in"], f["rows_accepted"]) for f in _files(stack)] == [(1, 1)]
