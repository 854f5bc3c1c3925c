"""Cross-file dedupe: the first accepted row of each natural key, so curated Parquet holds every row once.

LedgerTable item `NATURALKEY#<entity>#<natural key joined by #>` / `NATURALKEY`, attributes `file_id`,
`source_key`, `source_version`, `line` and `expires_at` (epoch seconds: first accepted + the retention, the
table's TTL attribute). Keys are first read with BatchGetItem (100 per request); only unseen keys are written, as
conditional puts in TransactWriteItems of 100 (`attribute_not_exists(pk)`, or an expired item, or the same file
and line, so a retry of the same row is not a duplicate of itself). A put that loses a race to a concurrent file
comes back in the cancellation reasons with the winner, and that row becomes the duplicate.

Natural keys made of identifiers (customers: customer_id; consents: customer_id, email, phone...) name a person:
`forget_identifiers` deletes those items for an erasure (one filtered scan of the ledger; erasure is rare).

Retention: once a key's item has expired, a row with that key is accepted again (a duplicate older than the
retention is not detected). An expired item counts as absent even before DynamoDB's TTL sweep deletes it (that
can take days), so the behaviour does not depend on the sweep. Items written without `expires_at` never expire.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import client, dynamodb_table

IDENTIFIER_KEYED_ENTITIES = ("customers", "consents")  # their natural keys hold customer ids, emails or phones
BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100
SORT_KEY = "NATURALKEY"
MAX_TRANSACTION_ATTEMPTS = 8
PARALLEL_REQUESTS = 8  # chunks of one batch are read and written concurrently (boto3 clients are thread-safe)


@dataclass(frozen=True)
class FirstSeen:
    """Where a natural key was first accepted."""

    file_id: str
    source_key: str
    source_version: str
    line: int


def _pk(entity: str, natural_key: str) -> str:
    return f"NATURALKEY#{entity}#{natural_key}"


def _expired(item: dict[str, Any], now: int) -> bool:
    return "expires_at" in item and int(item["expires_at"]["N"]) <= now


def _first_seen(item: dict[str, Any]) -> FirstSeen:
    return FirstSeen(
        file_id=item["file_id"]["S"],
        source_key=item["source_key"]["S"],
        source_version=item["source_version"]["S"],
        line=int(item["line"]["N"]),
    )


class NaturalKeyLedger:
    """The natural keys one file's rows claim, remembered for `retention` from `now`; counts its DynamoDB requests."""

    def __init__(self, table_name: str, entity: str, owner: FirstSeen, now: datetime, retention: timedelta) -> None:
        self.table_name = table_name
        self.entity = entity
        self.owner = owner  # `line` is unused: each claim carries its own
        self.now = int(now.timestamp())
        self.expires_at = int((now + retention).timestamp())
        self.read_requests = 0
        self.write_requests = 0

    def _is_this_row(self, seen: FirstSeen, line: int) -> bool:
        return seen.file_id == self.owner.file_id and seen.line == line

    def claim(self, natural_keys: list[str], lines: list[int]) -> dict[int, FirstSeen]:
        """Claim each row's natural key (unique within the call); returns {row index: first owner} for duplicates."""
        existing = self._read(natural_keys)
        duplicates = {
            index: existing[key]
            for index, key in enumerate(natural_keys)
            if key in existing and not self._is_this_row(existing[key], lines[index])
        }
        unseen = [index for index, key in enumerate(natural_keys) if key not in existing]
        chunks = [unseen[start : start + TRANSACTION_LIMIT] for start in range(0, len(unseen), TRANSACTION_LIMIT)]
        with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
            for found, requests in pool.map(lambda chunk: self._put_conditionally(chunk, natural_keys, lines), chunks):
                duplicates.update(found)
                self.write_requests += requests
        return duplicates

    def _read(self, natural_keys: list[str]) -> dict[str, FirstSeen]:
        chunks = [natural_keys[start : start + BATCH_GET_LIMIT] for start in range(0, len(natural_keys), BATCH_GET_LIMIT)]
        found: dict[str, FirstSeen] = {}
        with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
            for chunk_found, requests in pool.map(self._read_chunk, chunks):
                found.update(chunk_found)
                self.read_requests += requests
        return found

    def _read_chunk(self, natural_keys: list[str]) -> tuple[dict[str, FirstSeen], int]:
        found: dict[str, FirstSeen] = {}
        prefix_length = len(_pk(self.entity, ""))
        keys = [{"pk": {"S": _pk(self.entity, key)}, "sk": {"S": SORT_KEY}} for key in natural_keys]
        request: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
        requests = 0
        while request:
            requests += 1
            response = client("dynamodb").batch_get_item(RequestItems=request)
            for item in response["Responses"].get(self.table_name, []):
                if not _expired(item, self.now):
                    found[item["pk"]["S"][prefix_length:]] = _first_seen(item)
            request = response.get("UnprocessedKeys") or {}
        return found, requests

    def _put(self, natural_key: str, line: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": {
                    "pk": {"S": _pk(self.entity, natural_key)},
                    "sk": {"S": SORT_KEY},
                    "file_id": {"S": self.owner.file_id},
                    "source_key": {"S": self.owner.source_key},
                    "source_version": {"S": self.owner.source_version},
                    "line": {"N": str(line)},
                    "expires_at": {"N": str(self.expires_at)},
                },
                "ConditionExpression": (
                    "attribute_not_exists(pk) OR expires_at <= :now OR (file_id = :file_id AND line = :line)"
                ),
                "ExpressionAttributeValues": {
                    ":file_id": {"S": self.owner.file_id},
                    ":line": {"N": str(line)},
                    ":now": {"N": str(self.now)},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _put_conditionally(
        self, indexes: list[int], natural_keys: list[str], lines: list[int]
    ) -> tuple[dict[int, FirstSeen], int]:
        """One transaction per chunk; rows that lost a race are dropped from it and the rest are put again.
        Returns the duplicates and the requests made."""
        duplicates: dict[int, FirstSeen] = {}
        pending = list(indexes)
        for attempt in range(MAX_TRANSACTION_ATTEMPTS):
            if not pending:
                return duplicates, attempt
            try:
                client("dynamodb").transact_write_items(
                    TransactItems=[self._put(natural_keys[index], lines[index]) for index in pending]
                )
                return duplicates, attempt + 1
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons", [])
                for index, reason in zip(list(pending), reasons):
                    if reason.get("Code") == "ConditionalCheckFailed":
                        duplicates[index] = _first_seen(reason["Item"])
                        pending.remove(index)
        raise RuntimeError(f"natural keys of {self.entity} still contended after {MAX_TRANSACTION_ATTEMPTS} attempts")


def forget_identifiers(table_name: str, values: list[str]) -> int:
    """Delete the natural-key items of identifier-keyed entities whose key holds one of these identifier values
    (each a whole `#`-separated part of the key); returns how many were deleted."""
    if not values:
        return 0
    prefixes = {f":e{i}": {"S": _pk(entity, "")} for i, entity in enumerate(IDENTIFIER_KEYED_ENTITIES)}
    parts = {f":v{i}": {"S": f"#{value}#"} for i, value in enumerate(values)}
    wholes = {f":w{i}": {"S": f"{_pk(entity, '')}{value}"} for i, (entity, value) in
              enumerate((entity, value) for entity in IDENTIFIER_KEYED_ENTITIES for value in values)}  # fmt: skip
    pages = client("dynamodb").get_paginator("scan").paginate(
        TableName=table_name,
        FilterExpression=(
            f"({' OR '.join(f'begins_with(pk, {name})' for name in prefixes)}) AND "
            f"({' OR '.join(f'contains(pk, {name})' for name in parts)} OR pk IN ({', '.join(wholes)}))"
        ),
        ExpressionAttributeValues={**prefixes, **parts, **wholes},
        ProjectionExpression="pk, sk",
    )
    keys = [{"pk": item["pk"]["S"], "sk": item["sk"]["S"]} for page in pages for item in page["Items"]]
    with dynamodb_table(table_name).batch_writer() as batch:
        for key in keys:
            batch.delete_item(Key=key)
    return len(keys)
