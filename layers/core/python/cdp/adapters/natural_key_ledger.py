"""Cross-file dedupe: the first accepted row of each natural key, so curated Parquet holds every row once.

LedgerTable item `NATURALKEY#<entity>#<natural key joined by #>` / `NATURALKEY`, attributes `claim`
(`<file_id>#<line>`: which row of which file holds the key) and `expires_at` (epoch seconds: first accepted + the
retention, the table's TTL attribute); items written before `claim` existed carry `file_id` and `line` instead, and
are read alike. Each file writes one `NATURALKEYFILE#<file_id>` / `NATURALKEY` item (`source_key`,
`source_version`, `expires_at`) that names the object behind its claims, so the claims stay two attributes.

Keys are claimed with conditional puts in TransactWriteItems of 100 (`attribute_not_exists(pk)`, or an expired
item, or the same claim, so a retry of the same row is not a duplicate of itself), without reading first: a
transaction that meets claimed keys is cancelled, and its cancellation reasons carry each claimed key's item
(`ReturnValuesOnConditionCheckFailure: ALL_OLD`), so those rows become duplicates and the rest is put again. A file
of new keys costs one request per 100 rows. A file's first call sends its first 100 keys alone; when most of them
(or, later, of a call's keys) were claimed already (a re-dropped file), the rest and the next calls read first
(BatchGetItem, 100 keys a request) and put only the unseen keys, so a re-drop costs one read per 100 rows instead of
cancelled writes, and a file of new keys goes back to writing first.

Natural keys made of identifiers (customers: customer_id; consents: customer_id, email, phone...) name a person:
`forget_identifiers` deletes those items for an erasure (one filtered scan of the ledger; erasure is rare).

Retention: once a key's item has expired, a row with that key is accepted again (a duplicate older than the
retention is not detected). An expired item counts as absent even before DynamoDB's TTL sweep deletes it (that
can take days), so the behaviour does not depend on the sweep. Items written without `expires_at` never expire.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import client, dynamodb_table
from cdp.canonical import IDENTIFIER_KEYED_ENTITIES
from cdp.ingest.ports import FirstSeen
from cdp.keys import natural_key_file_pk, natural_key_pk

BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100
SORT_KEY = "NATURALKEY"
MAX_TRANSACTION_ATTEMPTS = 8
PARALLEL_REQUESTS = 8  # chunks of one batch are read and written concurrently (boto3 clients are thread-safe)
CONDITION = "attribute_not_exists(pk) OR expires_at <= :now OR claim = :claim"


def _expired(item: dict[str, Any], now: int) -> bool:
    return "expires_at" in item and int(item["expires_at"]["N"]) <= now


def _claim_of(item: dict[str, Any]) -> tuple[str, int]:
    """(file_id, line) of a claim item, in either layout."""
    if "claim" in item:
        file_id, _, line = item["claim"]["S"].rpartition("#")
        return file_id, int(line)
    return item["file_id"]["S"], int(item["line"]["N"])


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
        self.reads_first: bool | None = None  # after a call: whether most of its keys were claimed already
        self._file_recorded = False

    def claim(self, natural_keys: list[str], lines: list[int]) -> dict[int, FirstSeen]:
        """Claim each row's natural key (unique within the call); returns {row index: first owner} for duplicates."""
        self._record_file()
        claimed: dict[int, dict[str, Any]] = {}
        pending = list(range(len(natural_keys)))
        if self.reads_first is None:  # the file's first call: one transaction tells new keys from a re-drop
            probe, pending = pending[:TRANSACTION_LIMIT], pending[TRANSACTION_LIMIT:]
            claimed, requests = self._put_conditionally(probe, natural_keys, lines)
            self.write_requests += requests
            self.reads_first = len(claimed) * 2 > len(probe)
        seen_before = len(claimed)
        if self.reads_first:
            existing = self._read([natural_keys[index] for index in pending])
            seen_before += len(existing)
            claimed.update(
                (index, existing[natural_keys[index]])
                for index in pending
                if natural_keys[index] in existing
                and _claim_of(existing[natural_keys[index]]) != (self.owner.file_id, lines[index])
            )
            pending = [index for index in pending if natural_keys[index] not in existing]
        chunks = [pending[start : start + TRANSACTION_LIMIT] for start in range(0, len(pending), TRANSACTION_LIMIT)]
        with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
            for found, requests in pool.map(lambda chunk: self._put_conditionally(chunk, natural_keys, lines), chunks):
                claimed.update(found)
                seen_before += len(found)
                self.write_requests += requests
        self.reads_first = seen_before * 2 > len(natural_keys)
        return self._first_seen(claimed)

    def _record_file(self) -> None:
        """The file's NATURALKEYFILE item, once per ledger, before its first claim (so it outlives its claims)."""
        if self._file_recorded:
            return
        client("dynamodb").put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": natural_key_file_pk(self.owner.file_id)},
                "sk": {"S": SORT_KEY},
                "source_key": {"S": self.owner.source_key},
                "source_version": {"S": self.owner.source_version},
                "expires_at": {"N": str(self.expires_at)},
            },
        )
        self.write_requests += 1
        self._file_recorded = True

    def _first_seen(self, claimed: dict[int, dict[str, Any]]) -> dict[int, FirstSeen]:
        """The owners of claimed items, their objects named by their files' items (one batched read for the other
        files; items in the layout before `claim` name theirs)."""
        claims = {index: _claim_of(item) for index, item in claimed.items()}
        sources = {self.owner.file_id: (self.owner.source_key, self.owner.source_version)}
        for index, item in claimed.items():
            if "source_key" in item:
                sources[claims[index][0]] = (item["source_key"]["S"], item["source_version"]["S"])
        unnamed = sorted({file_id for file_id, _ in claims.values()} - set(sources))
        keys = [{"pk": {"S": natural_key_file_pk(file_id)}, "sk": {"S": SORT_KEY}} for file_id in unnamed]
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            items, requests = self._get_items(keys[start : start + BATCH_GET_LIMIT])
            self.read_requests += requests
            for item in items:
                sources[item["pk"]["S"].removeprefix(natural_key_file_pk(""))] = (item["source_key"]["S"], item["source_version"]["S"])
        return {  # a file item already swept by TTL (clocks apart) leaves the object unnamed, never the row
            index: FirstSeen(file_id, *sources.get(file_id, ("", "")), line) for index, (file_id, line) in claims.items()
        }

    def _get_items(self, keys: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """Up to 100 items by key (consistent BatchGetItem, unprocessed keys asked again); and the requests made."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
        requests = 0
        while request:
            requests += 1
            response = client("dynamodb").batch_get_item(RequestItems=request)
            items += response["Responses"].get(self.table_name, [])
            request = response.get("UnprocessedKeys") or {}
        return items, requests

    def _read(self, natural_keys: list[str]) -> dict[str, dict[str, Any]]:
        """The unexpired claim items of these keys, by key (100 keys a request, concurrently)."""
        chunks = [natural_keys[start : start + BATCH_GET_LIMIT] for start in range(0, len(natural_keys), BATCH_GET_LIMIT)]
        keys = ([{"pk": {"S": natural_key_pk(self.entity, key)}, "sk": {"S": SORT_KEY}} for key in chunk] for chunk in chunks)
        prefix_length = len(natural_key_pk(self.entity, ""))
        found: dict[str, dict[str, Any]] = {}
        with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
            for items, requests in pool.map(self._get_items, keys):
                found.update((item["pk"]["S"][prefix_length:], item) for item in items if not _expired(item, self.now))
                self.read_requests += requests
        return found

    def _put(self, natural_key: str, line: int) -> dict[str, Any]:
        claim = {"S": f"{self.owner.file_id}#{line}"}
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": {
                    "pk": {"S": natural_key_pk(self.entity, natural_key)},
                    "sk": {"S": SORT_KEY},
                    "claim": claim,
                    "expires_at": {"N": str(self.expires_at)},
                },
                "ConditionExpression": CONDITION,
                "ExpressionAttributeValues": {":claim": claim, ":now": {"N": str(self.now)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _put_conditionally(
        self, indexes: list[int], natural_keys: list[str], lines: list[int]
    ) -> tuple[dict[int, dict[str, Any]], int]:
        """One transaction per chunk; rows whose key is claimed (found in the cancellation reasons) are dropped
        from it and the rest are put again. Returns the claimed rows' items and the requests made."""
        claimed: dict[int, dict[str, Any]] = {}
        pending = list(indexes)
        for attempt in range(MAX_TRANSACTION_ATTEMPTS):
            if not pending:
                return claimed, attempt
            try:
                client("dynamodb").transact_write_items(
                    TransactItems=[self._put(natural_keys[index], lines[index]) for index in pending]
                )
                return claimed, attempt + 1
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons", [])
                for index, reason in zip(list(pending), reasons):
                    if reason.get("Code") != "ConditionalCheckFailed":
                        continue
                    pending.remove(index)
                    if _claim_of(reason["Item"]) != (self.owner.file_id, lines[index]):  # else: this row, in the
                        claimed[index] = reason["Item"]  # layout before `claim` (a retry across the change)
        raise RuntimeError(f"natural keys of {self.entity} still contended after {MAX_TRANSACTION_ATTEMPTS} attempts")


def forget_identifiers(table_name: str, values: list[str]) -> int:
    """Delete the natural-key items of identifier-keyed entities whose key holds one of these identifier values
    (each a whole `#`-separated part of the key); returns how many were deleted."""
    if not values:
        return 0
    prefixes = {f":e{i}": {"S": natural_key_pk(entity, "")} for i, entity in enumerate(IDENTIFIER_KEYED_ENTITIES)}
    parts = {f":v{i}": {"S": f"#{value}#"} for i, value in enumerate(values)}
    wholes = {f":w{i}": {"S": f"{natural_key_pk(entity, '')}{value}"} for i, (entity, value) in
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
