"""Moves the items a deployed stack stored under earlier key shapes to the shapes the code reads now.

- Campaigns: `CAMPAIGN#<name>` / `CAMPAIGN` (found by a Scan) to `CAMPAIGNS` / `CAMPAIGN#<name>` (listed by a Query
  of that one partition). Their runs (`CAMPAIGN#<name>` / `RUN#<id>`) kept their shape and stay.
- Deferred messages: `DEFERRED` / `<until>#<request key>` (one partition), and `DEFERRED#<bucket>` /
  `<until>#<request key>` (buckets by the request key alone), to `DEFERRED#<bucket>` / `<until>#<request key>#<profile
  id>` (`cdp.keys.deferred_message_key`: a campaign's messages share their request key, so without the person one
  person's deferral overwrote another's due at the same moment, and a whole run went to one bucket).

Each item moves in one transaction (put under the new key if that key is free, delete the old key if it is still
there), read page by page with boto3 paginators and written as read (wire format, nothing converted). So a run that
stops anywhere leaves every item either moved or not, and running again (idempotent) finds only what is left: there
is no progress to keep. An item whose new key is taken already (a campaign created again under its name after the
upgrade, a message deferred again to the same moment) is `superseded`: the newer item stays, the old one is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from cdp.adapters.clients import client
from cdp.keys import (
    CAMPAIGN_PREFIX,
    DEFERRED_BUCKETS,
    Key,
    campaign_key,
    deferred_message_key,
    deferred_pk,
)
from cdp.messaging.requests import MessageRequest

OLD_CAMPAIGN_SORT_KEY = "CAMPAIGN"  # the old definition item's sort key (runs' sort keys start with RUN#)
OLD_DEFERRED_PARTITION = "DEFERRED"
WireItem = dict[str, Any]

_serialise = TypeSerializer().serialize


def _old_campaigns(table: str) -> Iterator[WireItem]:
    """Campaign definitions in the old shape: a Scan of the table for them, page after page."""
    pages = (
        client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=table,
            FilterExpression="begins_with(pk, :prefix) AND sk = :sk",
            ExpressionAttributeValues={":prefix": {"S": CAMPAIGN_PREFIX}, ":sk": {"S": OLD_CAMPAIGN_SORT_KEY}},
            ConsistentRead=True,
        )
    )
    for page in pages:
        yield from page["Items"]


def _old_deferred_messages(table: str) -> Iterator[WireItem]:
    """Deferred messages not under the key their person, request and time give: the old single partition's, and
    those the buckets got before their keys named the person; each partition read page after page."""
    for partition in (OLD_DEFERRED_PARTITION, *(deferred_pk(bucket) for bucket in range(DEFERRED_BUCKETS))):
        pages = (
            client("dynamodb")
            .get_paginator("query")
            .paginate(
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": partition}},
                ConsistentRead=True,
            )
        )
        for page in pages:
            yield from (item for item in page["Items"] if _wire_key(_deferred_key(item)) != _key_of(item))


def _campaign_key(item: WireItem) -> Key:
    return campaign_key(item["pk"]["S"].removeprefix(CAMPAIGN_PREFIX))


def _deferred_key(item: WireItem) -> Key:
    request = MessageRequest.model_validate_json(item["request"]["S"])
    return deferred_message_key(item["until"]["S"], item["profile_id"]["S"], request.key())


def _key_of(item: WireItem) -> WireItem:
    return {"pk": item["pk"], "sk": item["sk"]}


def _wire_key(key: Key) -> WireItem:
    return {name: _serialise(value) for name, value in key.items()}


def _move(table: str, item: WireItem, new_key: Key) -> str:
    """Move one item to its new key: `moved`, `superseded` (the new key was taken) or `gone` (another run moved it)."""
    dynamodb = client("dynamodb")
    old_key = _key_of(item)
    try:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {**item, **_wire_key(new_key)},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Delete": {"TableName": table, "Key": old_key, "ConditionExpression": "attribute_exists(pk)"}},
            ]
        )  # fmt: skip
    except ClientError as error:
        reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
        if error.response["Error"]["Code"] != "TransactionCanceledException" or "ConditionalCheckFailed" not in reasons:
            raise
        if reasons[1:2] == ["ConditionalCheckFailed"]:
            return "gone"
        dynamodb.delete_item(TableName=table, Key=old_key)
        return "superseded"
    return "moved"


MIGRATIONS: dict[str, tuple[Callable[[str], Iterator[WireItem]], Callable[[WireItem], Key]]] = {
    "campaigns": (_old_campaigns, _campaign_key),
    "deferred_messages": (_old_deferred_messages, _deferred_key),
}


def migrate_key_shapes(table: str) -> dict[str, dict[str, int]]:
    """Move every old-shaped item of ProfilesTable `table`; per kind, how many were moved, superseded or gone."""
    counts: dict[str, dict[str, int]] = {}
    for kind, (old_items, new_key) in MIGRATIONS.items():
        counts[kind] = {"moved": 0, "superseded": 0, "gone": 0}
        for item in old_items(table):
            counts[kind][_move(table, item, new_key(item))] += 1
    return counts
