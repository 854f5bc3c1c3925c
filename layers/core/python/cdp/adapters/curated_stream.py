"""Curated rows of HTTP calls and webhooks to their entity's Kinesis Data Firehose delivery stream, which converts
them to Parquet with the Glue table's schema under `<entity>/dt=YYYY-MM-DD/` (docs/front-door.md says why).

A record is one JSON object per row: its columns, timestamps as `yyyy-MM-dd HH:mm:ss.ffffff` in UTC (what the
stream's HiveJsonSerDe reads by default, `java.sql.Timestamp.valueOf`), dates in ISO, decimals as JSON numbers, and
the `dt` field the stream's partition query reads. PutRecordBatch takes up to 500 records and 4 MiB; the records it
reports failed (FailedPutCount) are sent again with jittered back-off, up to MAX_ATTEMPTS times in all. Light: no
pyarrow.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.clients import client
from cdp.observability import logger

MAX_RECORDS_PER_REQUEST = 500
MAX_BYTES_PER_REQUEST = 4 * 1024 * 1024
MAX_ATTEMPTS = 4
BACKOFF_SECONDS = 0.1


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)  # Hive reads either as a decimal
    raise TypeError(f"no JSON form for {type(value).__name__}")


def record_of(day: date, row: Mapping[str, Any]) -> bytes:
    """One row as the record its delivery stream converts (newline-terminated, as Firehose concatenates them)."""
    return json.dumps({**row, "dt": day.isoformat()}, default=_json_value, separators=(",", ":")).encode() + b"\n"


def _requests(records: list[bytes]) -> Iterator[list[bytes]]:
    """The records in PutRecordBatch-sized requests (count and bytes)."""
    request: list[bytes] = []
    size = 0
    for record in records:
        if request and (len(request) == MAX_RECORDS_PER_REQUEST or size + len(record) > MAX_BYTES_PER_REQUEST):
            yield request
            request, size = [], 0
        request.append(record)
        size += len(record)
    if request:
        yield request


class CuratedStreams:
    """The curated delivery stream of each entity (`CuratedSink`)."""

    def __init__(self, streams: Mapping[str, str], sleep: Callable[[float], None] = time.sleep) -> None:
        self.streams = dict(streams)
        self.sleep = sleep

    def deliver(self, entity: str, rows: list[tuple[date, dict[str, Any]]]) -> int:
        """Put every row on the entity's stream; returns how many still failed after MAX_ATTEMPTS."""
        stream = self.streams[entity]
        undelivered = 0
        for request in _requests([record_of(day, row) for day, row in rows]):
            undelivered += self._put(stream, request)
        if undelivered:
            logger.error(
                "curated rows not delivered", extra={"entity": entity, "stream": stream, "failed": undelivered}
            )
        return undelivered

    def _put(self, stream: str, records: list[bytes]) -> int:
        pending = records
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self.sleep(random.uniform(0, BACKOFF_SECONDS * 2**attempt))
            try:
                response = client("firehose").put_record_batch(
                    DeliveryStreamName=stream, Records=[{"Data": record} for record in pending]
                )
            except (BotoCoreError, ClientError) as error:  # the whole request failed, after botocore's own retries
                logger.warning("curated put failed", extra={"stream": stream, "error": type(error).__name__})
                continue
            if not response["FailedPutCount"]:
                return 0
            pending = [record for record, answer in zip(pending, response["RequestResponses"]) if "ErrorCode" in answer]
        return len(pending)
