"""Accepted batches reach profiles through the ProfileBatchesQueue and ApplyProfileBatchFunction (local stack).

The local stack polls the queue as Lambda's SQS event source does once the producing invocation returns, with the
template's BatchSize, partial batch responses and the queue's redrive policy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from cdp.adapters.privacy_store import PrivacyStore
from cdp.privacy.erasure import identifier_digest
from cdp_local.stack import LOCAL_ERASURE_SALT, LocalStack

HEADER = "order_id,line_id,customer_id,email,ordered_at,currency,sku,quantity,unit_price,status\n"
ORDERS = HEADER + "".join(
    f"O{n},1,C{n % 3},c{n % 3}@example.com,2024-01-0{1 + n % 2}T10:00:00Z,GBP,SKU{n},1,10.00,completed\n"
    for n in range(60)
)


def _drop(stack: LocalStack, key: str, body: str) -> None:
    stack.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key=key, Body=body.encode())


def _ledger_items(stack: LocalStack) -> list[dict[str, Any]]:
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.physical_id("LedgerTable"))
    return [item for page in pages for item in page["Items"]]


def _file_report(stack: LocalStack) -> dict[str, Any]:
    [report] = [json.loads(item["report"]["S"]) for item in _ledger_items(stack) if "report" in item]
    assert report["rows_in"] == report["rows_accepted"] + report["rows_quarantined"]
    return report


def _applied_batches(stack: LocalStack) -> list[int]:
    [item] = [item for item in _ledger_items(stack) if item["sk"]["S"].endswith("#PROFILES")]
    return sorted(int(number) for number in item["applied_batches"]["NS"])


def _orders_of(stack: LocalStack) -> dict[str, int]:
    """Orders count per customer id, from the profiles the identity items point to."""
    store = PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable"))
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=stack.physical_id("ProfilesTable"))
    identities = [
        item for page in pages for item in page["Items"] if item["pk"]["S"].startswith("IDENTITY#customer_id#")
    ]
    return {
        item["pk"]["S"].removeprefix("IDENTITY#customer_id#"): int(
            (store.profile_consistently(item["profile_id"]["S"]) or {}).get("orders_count", 0)
        )
        for item in identities
    }


def _queue_url(stack: LocalStack, logical_id: str) -> str:
    return stack.physical_id(logical_id)


def _messages(stack: LocalStack, logical_id: str) -> list[dict[str, Any]]:
    return stack.client("sqs").receive_message(
        QueueUrl=_queue_url(stack, logical_id), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])


def _small_batches(stack: LocalStack, batch_bytes: int) -> None:
    """Make IngestFileFunction read `batch_bytes` of text per batch (the template sets 4 MiB)."""
    lambda_client = stack.client("lambda")
    name = stack.physical_id("IngestFileFunction")
    variables = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    lambda_client.update_function_configuration(
        FunctionName=name,
        Environment={"Variables": {**{k: str(v) for k, v in variables.items()}, "INGEST_BATCH_BYTES": str(batch_bytes)}},
    )


def _queued_batch(stack: LocalStack) -> dict[str, Any]:
    """The message the ingest of ORDERS queued for its first batch (captured by holding the poller)."""
    with mock.patch.object(stack, "deliver_queued_messages", return_value=0):
        _drop(stack, "orders/held.csv", ORDERS)
    [message] = _messages(stack, "ProfileBatchesQueue")
    stack.client("sqs").change_message_visibility(
        QueueUrl=_queue_url(stack, "ProfileBatchesQueue"), ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    return json.loads(message["Body"])  # type: ignore[no-any-return]


def test_every_accepted_batch_is_queued_once_and_applied_to_profiles(stack: LocalStack) -> None:
    # Given: batches of about 1 KB, so the 60-line file is read in several
    _small_batches(stack, 1024)
    # When
    _drop(stack, "orders/orders.csv", ORDERS)
    # Then: every batch was queued, applied and recorded; the queue and its dead-letter queue are empty
    report = _file_report(stack)
    assert report["rows_accepted"] == 60 and report["profile_batches"] >= 3
    assert _applied_batches(stack) == list(range(report["profile_batches"]))
    assert _orders_of(stack) == {"C0": 20, "C1": 20, "C2": 20}
    assert _messages(stack, "ProfileBatchesQueue") == _messages(stack, "ProfileBatchesDeadLetterQueue") == []
    assert stack.async_failures == []


def test_a_redelivered_batch_changes_nothing(stack: LocalStack) -> None:
    # Given: a file whose batch was applied
    _drop(stack, "orders/orders.csv", ORDERS)
    before = _orders_of(stack)
    curated_key = next(
        item["Key"] for item in stack.client("s3").list_objects_v2(Bucket=stack.physical_id("CuratedBucket"))["Contents"]
    )
    file_id, batch = curated_key.rsplit("/", 1)[1].removesuffix(".parquet").rsplit("-", 1)
    report = _file_report(stack)
    message = {
        "source": {"bucket": stack.physical_id("RawBucket"), "key": "orders/orders.csv", "version": report["version"]},
        "entity": "orders",
        "curated_bucket": stack.physical_id("CuratedBucket"),
        "file_id": file_id,
        "batch": int(batch),
        "days": ["2024-01-01", "2024-01-02"],
        "ingested_at": datetime.now(UTC).isoformat(),
    }
    # When: SQS delivers the same batch again, twice
    for _ in range(2):
        stack.client("sqs").send_message(QueueUrl=_queue_url(stack, "ProfileBatchesQueue"), MessageBody=json.dumps(message))
    stack.deliver_queued_messages()
    # Then
    assert _orders_of(stack) == before == {"C0": 20, "C1": 20, "C2": 20}
    assert _applied_batches(stack) == [0]
    assert _messages(stack, "ProfileBatchesDeadLetterQueue") == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"entity": "orders"}),
        json.dumps({"source": {"bucket": "raw", "key": "k", "version": "v"}, "entity": "nonsense",
                    "curated_bucket": "cur", "file_id": "0" * 24, "batch": 0, "days": ["2024-01-01"],
                    "ingested_at": "2024-01-01T00:00:00Z"}),
        json.dumps({"source": {"bucket": "raw", "key": "k", "version": "v"}, "entity": "orders",
                    "curated_bucket": "cur", "file_id": "../../etc", "batch": 0, "days": ["2024-01-01"],
                    "ingested_at": "2024-01-01T00:00:00Z"}),
    ],
    ids=["not-json", "missing-fields", "unknown-entity", "hostile-file-id"],
)
def test_a_malformed_message_is_retried_then_kept_in_the_dead_letter_queue_and_the_next_batch_still_applies(
    stack: LocalStack, body: str
) -> None:
    # Given: a malformed message ahead of a real file's batch
    stack.client("sqs").send_message(QueueUrl=_queue_url(stack, "ProfileBatchesQueue"), MessageBody=body)
    # When
    _drop(stack, "orders/orders.csv", ORDERS)
    # Then: the file's batch is applied; the bad message went to the dead-letter queue, body intact, after 5 receives
    assert _orders_of(stack) == {"C0": 20, "C1": 20, "C2": 20}
    assert _messages(stack, "ProfileBatchesQueue") == []
    [dead] = stack.client("sqs").receive_message(
        QueueUrl=_queue_url(stack, "ProfileBatchesDeadLetterQueue"), AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert dead["Body"] == body


def test_one_failing_message_of_a_batch_is_reported_alone(stack: LocalStack) -> None:
    # Given: a good queued batch and a bad one, delivered to the function together
    good = _queued_batch(stack)
    records = [
        {"messageId": message_id, "receiptHandle": f"handle-{message_id}", "body": body,
         "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "local",
                        "ApproximateFirstReceiveTimestamp": "1"},
         "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:queue", "awsRegion": "eu-west-1"}
        for message_id, body in (("good", json.dumps(good)), ("bad", "{"))
    ]
    # When
    with mock.patch.object(stack, "deliver_queued_messages", return_value=0):
        response = stack.invoke("ApplyProfileBatchFunction", {"Records": records})
    # Then
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert _orders_of(stack) == {"C0": 20, "C1": 20, "C2": 20}


def test_rows_of_a_person_erased_while_the_batch_waited_are_not_applied(stack: LocalStack) -> None:
    # Given: the batch is queued, then C1 is erased before it is applied
    _queued_batch(stack)
    PrivacyStore(stack.physical_id("ProfilesTable"), stack.physical_id("LedgerTable")).mark_erased(
        [identifier_digest(LOCAL_ERASURE_SALT, ("customer_id", "C1"))], "erasure-1", datetime.now(UTC).isoformat()
    )
    # When
    stack.deliver_queued_messages()
    # Then
    assert _orders_of(stack) == {"C0": 20, "C2": 20}
    assert _applied_batches(stack) == [0]


def test_a_batch_whose_curated_objects_are_gone_applies_nothing_and_is_done(stack: LocalStack) -> None:
    # Given: the queued batch's curated objects were deleted (an erasure rewrote them away)
    _queued_batch(stack)
    bucket = stack.physical_id("CuratedBucket")
    for item in stack.client("s3").list_objects_v2(Bucket=bucket)["Contents"]:
        stack.client("s3").delete_object(Bucket=bucket, Key=item["Key"])
    # When
    stack.deliver_queued_messages()
    # Then
    assert _orders_of(stack) == {}
    assert _applied_batches(stack) == [0]
    assert _messages(stack, "ProfileBatchesQueue") == _messages(stack, "ProfileBatchesDeadLetterQueue") == []
