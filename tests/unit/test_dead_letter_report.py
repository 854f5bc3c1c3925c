"""The run report reads every message of a dead-letter queue without taking it out, and names each dead-lettered
profile batch by its file."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from cdp_local.runner import _batches_by_file, _peek_all
from moto import mock_aws


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("sqs", region_name="eu-west-1")


def _batch(key: str, batch: int, version: str = "v1") -> str:
    return json.dumps({"source": {"bucket": "raw", "key": key, "version": version}, "entity": "orders", "batch": batch})


def test_peeking_reads_every_message_and_leaves_them_all_in_the_queue(sqs: object) -> None:
    # Given: more messages than one receive returns
    url = sqs.create_queue(QueueName="dead")["QueueUrl"]  # type: ignore[attr-defined]
    bodies = [_batch("orders/a.csv", number) for number in range(23)]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)  # type: ignore[attr-defined]
    # When: read twice
    first, second = _peek_all(sqs, url), _peek_all(sqs, url)
    # Then: each read sees every message, and they are all still there, visible
    assert sorted(first) == sorted(second) == sorted(bodies)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])  # type: ignore[attr-defined]
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "23"


def test_dead_lettered_batches_are_grouped_by_file_version_and_other_bodies_are_skipped() -> None:
    # Given: batches of two files (one dropped twice), an asynchronous invocation's event and a body that is no JSON
    bodies = [
        _batch("orders/b.csv", 3),
        _batch("orders/a.csv", 7),
        _batch("orders/b.csv", 0),
        _batch("orders/a.csv", 1, version="v2"),
        json.dumps({"Records": [{"s3": {}}]}),
        "not json",
    ]
    # When / Then
    assert _batches_by_file(bodies) == [
        {"key": "orders/a.csv", "version": "v1", "batches": [7]},
        {"key": "orders/a.csv", "version": "v2", "batches": [1]},
        {"key": "orders/b.csv", "version": "v1", "batches": [0, 3]},
    ]
