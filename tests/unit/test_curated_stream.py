"""Curated rows to Firehose: the record each row becomes, request sizes, and failed records sent again, never
silently dropped."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from cdp.adapters import curated_stream
from cdp.adapters.curated_stream import MAX_ATTEMPTS, CuratedStreams, record_of
from cdp.clean.entities import ENTITIES
from cdp.curated_layout import DATE_COLUMNS, partition_day

DAY = date(2026, 11, 22)


class FakeFirehose:
    """PutRecordBatch that fails the records whose data contains a marker, for the first `failing_attempts` calls."""

    def __init__(self, failing_attempts: int, marker: bytes = b"fail") -> None:
        self.failing_attempts = failing_attempts
        self.marker = marker
        self.requests: list[list[bytes]] = []

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:  # noqa: N803
        self.requests.append([record["Data"] for record in Records])
        failing = len(self.requests) <= self.failing_attempts
        answers = [
            {"ErrorCode": "ServiceUnavailableException"} if failing and self.marker in r["Data"] else {"RecordId": "x"}
            for r in Records
        ]
        return {"FailedPutCount": sum("ErrorCode" in a for a in answers), "RequestResponses": answers}


@pytest.fixture
def firehose(monkeypatch: pytest.MonkeyPatch) -> FakeFirehose:
    fake = FakeFirehose(failing_attempts=0)
    monkeypatch.setattr(curated_stream, "client", lambda service: fake)
    return fake


def _streams() -> CuratedStreams:
    return CuratedStreams({"events": "events-stream"}, sleep=lambda seconds: None)


def test_a_row_becomes_json_the_streams_serde_reads() -> None:
    # Given
    row = {"occurred_at": datetime(2026, 11, 22, 9, 5, 0, 123456, tzinfo=UTC), "birthday": date(1990, 2, 28),
           "unit_price": Decimal("8.50"), "quantity": 2, "email": None}  # fmt: skip
    # When / Then
    assert json.loads(record_of(DAY, row)) == {
        "occurred_at": "2026-11-22 09:05:00.123456", "birthday": "1990-02-28", "unit_price": 8.5, "quantity": 2,
        "email": None, "dt": "2026-11-22",
    }  # fmt: skip
    assert record_of(DAY, row).endswith(b"\n")


def test_only_the_failed_records_are_sent_again(firehose: FakeFirehose) -> None:
    # Given: two of three records fail on the first two attempts
    firehose.failing_attempts = 2
    rows = [(DAY, {"event_id": "ok"}), (DAY, {"event_id": "fail-1"}), (DAY, {"event_id": "fail-2"})]
    # When
    undelivered = _streams().deliver("events", rows)
    # Then
    assert undelivered == 0
    assert [len(request) for request in firehose.requests] == [3, 2, 2]


def test_records_still_failing_after_every_attempt_are_reported_not_dropped(firehose: FakeFirehose) -> None:
    # Given
    firehose.failing_attempts = MAX_ATTEMPTS
    # When
    undelivered = _streams().deliver("events", [(DAY, {"event_id": "fail"}), (DAY, {"event_id": "ok"})])
    # Then
    assert undelivered == 1
    assert len(firehose.requests) == MAX_ATTEMPTS


def test_requests_keep_within_putrecordbatchs_limits(firehose: FakeFirehose) -> None:
    # Given: 1,200 small rows, then 9 rows of about 1 MB
    small = [(DAY, {"event_id": str(n)}) for n in range(1200)]
    large = [(DAY, {"event_id": str(n), "properties": "x" * 1_000_000}) for n in range(9)]
    # When
    _streams().deliver("events", small + large)
    # Then
    assert all(len(request) <= 500 and sum(map(len, request)) <= 4 * 1024 * 1024 for request in firehose.requests)
    assert sum(len(request) for request in firehose.requests) == 1209


def test_partitions_follow_the_entitys_date_column_as_files_do() -> None:
    # Given / When / Then: one table of date columns, shared with the file pipeline
    assert {name: spec.date_column for name, spec in ENTITIES.items()} == DATE_COLUMNS
    late_evening = datetime(2026, 11, 22, 23, 30, tzinfo=UTC).astimezone()
    assert partition_day("events", {"occurred_at": late_evening}, date(2030, 1, 1)) == DAY
    assert partition_day("customers", {"signup_at": None}, DAY) == DAY
