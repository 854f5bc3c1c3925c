"""The one place DynamoDB's mechanics are written: wire-format conversion, batched gets (100 keys a request,
unprocessed keys asked again), transactions whose cancellation becomes a `ConcurrentChange` with its reasons,
paginated queries, and following profile redirects (a merged profile's `redirect_to`) in rounds of batched reads.

Back-off between optimistic retries is `cdp.retry.backoff` (the domain's merge and split loops pause with it too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from cdp.adapters.clients import client
from cdp.errors import ConcurrentChange
from cdp.keys import Key, profile_key

BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100  # items in one TransactWriteItems
MAX_REDIRECTS = 16
EXACT_INTEGER_LIMIT = 10**38  # DynamoDB numbers hold 38 digits: smaller integers are written as they are
CANCELLED = ("TransactionCanceledException", "ConditionalCheckFailedException")
Item = dict[str, Any]
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def wire(item: Item) -> Item:
    """Plain values in DynamoDB's wire format (`{"S": ...}`), as the low-level client takes them."""
    return {name: _wire_value(value) for name, value in item.items()}


def _wire_value(value: Any) -> Any:
    """boto3's TypeSerializer form of one value, made directly for strings, dicts, lists, booleans, None and integers
    of up to 38 digits (most of a ledger item, at a quarter of the cost); anything else (Decimals, sets, binary values,
    other mappings and sequences, and what it refuses) is TypeSerializer's own."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is dict:
        return {"M": {name: _wire_value(held) for name, held in value.items()}}
    if kind is list:
        return {"L": [_wire_value(held) for held in value]}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if kind is int and -EXACT_INTEGER_LIMIT < value < EXACT_INTEGER_LIMIT:
        return {"N": str(value)}
    return _serializer.serialize(value)


def plain(item: Item) -> Item:
    """An item in wire format as plain values (Decimal numbers, sets)."""
    return {name: _plain_value(value) for name, value in item.items()}


def _plain_value(value: Any) -> Any:
    """boto3's TypeDeserializer value of one wire value, read directly when it is a string, number, map, list,
    boolean or null of one type; anything else (sets, binary values, what it refuses) is TypeDeserializer's own."""
    if type(value) is dict and len(value) == 1:
        ((kind, held),) = value.items()
        if kind == "S":
            return held
        if kind == "N":
            return DYNAMODB_CONTEXT.create_decimal(held)
        if kind == "M":
            return {name: _plain_value(element) for name, element in held.items()}
        if kind == "L":
            return [_plain_value(element) for element in held]
        if kind == "BOOL":
            return held
        if kind == "NULL":
            return None
    return _deserializer.deserialize(value)


def batch_get_items(
    dynamodb: Any, table: str, keys: Iterable[Key], consistent: bool = False, attributes: Sequence[str] = ()
) -> Iterator[Item]:
    """BatchGetItem through a Table resource's client (plain values) in requests of 100 keys, duplicates dropped,
    unprocessed keys asked again; `attributes` projects the items to those names."""
    unique = list({(key["pk"], key["sk"]): key for key in keys}.values())
    projection: dict[str, Any] = {"ConsistentRead": consistent}
    if attributes:
        names = {f"#a{position}": name for position, name in enumerate(attributes)}
        projection.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        request: dict[str, Any] = {table: {"Keys": unique[start : start + BATCH_GET_LIMIT], **projection}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            yield from response["Responses"].get(table, [])
            request = response.get("UnprocessedKeys") or {}


def cancellation_reasons(error: ClientError) -> tuple[str | None, ...]:
    return tuple(reason.get("Code") for reason in error.response.get("CancellationReasons", []))


def transact(writes: list[Item]) -> None:
    """TransactWriteItems; a cancelled transaction (a condition failed, or a conflicting transaction) raises
    ConcurrentChange carrying each item's reason code (`None`, `ConditionalCheckFailed`, ...)."""
    try:
        client("dynamodb").transact_write_items(TransactItems=writes)
    except ClientError as error:
        if error.response["Error"]["Code"] in CANCELLED:
            raise ConcurrentChange(str(error), cancellation_reasons(error)) from error
        raise


def condition_held(write: Callable[[], object]) -> bool:
    """Run one conditional write; False when its condition failed (nothing was written)."""
    try:
        write()
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def only_conditions_failed(change: ConcurrentChange) -> bool:
    """A cancellation caused only by this transaction's own conditions (not throttling or a conflicting write)."""
    return all(code in ("None", "ConditionalCheckFailed", None) for code in change.reasons)


def query_items(**request: Any) -> Iterator[Item]:
    """Every item a Query (low-level request, wire-format values) returns, page after page, as plain values."""
    for page in client("dynamodb").get_paginator("query").paginate(**request):
        yield from map(plain, page["Items"])


def scan_items(**request: Any) -> Iterator[Item]:
    """Every item a Scan (low-level request, wire-format values) returns, page after page, as plain values."""
    for page in client("dynamodb").get_paginator("scan").paginate(**request):
        yield from map(plain, page["Items"])


def query_partition(table: str, pk: str, sort_prefix: str = "", newest_first: bool = False) -> list[Item]:
    """The items of one partition (whose sort key starts with `sort_prefix`), read consistently."""
    condition, values = "pk = :pk", {":pk": {"S": pk}}
    if sort_prefix:
        condition += " AND begins_with(sk, :prefix)"
        values[":prefix"] = {"S": sort_prefix}
    return list(
        query_items(
            TableName=table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=not newest_first,
            ConsistentRead=True,
        )
    )


ReadProfiles = Callable[[set[str]], dict[str, Item]]


def redirect_chains(read: ReadProfiles, profile_ids: Iterable[str]) -> dict[str, list[Item]]:
    """For each id, the profile items from it to the live profile it is or was merged into (the last one, without
    `redirect_to`); [] when there is no such profile. `read(ids)` reads profile items by id (one batched round per
    hop), so the chains of all the ids are followed at once."""
    chains: dict[str, list[Item]] = {profile_id: [] for profile_id in profile_ids}
    hop = {profile_id: profile_id for profile_id in chains}
    for _ in range(MAX_REDIRECTS):
        if not hop:
            return chains
        items = read(set(hop.values()))
        following: dict[str, str] = {}
        for profile_id, current in hop.items():
            item = items.get(current)
            if item is None:
                chains[profile_id] = []
                continue
            chains[profile_id].append(item)
            if "redirect_to" in item:
                following[profile_id] = item["redirect_to"]
        hop = following
    raise RuntimeError(f"redirect chain longer than {MAX_REDIRECTS} from {sorted(hop)[0]}")


def profiles_reader(table: Any, attributes: Sequence[str] = (), consistent: bool = True) -> ReadProfiles:
    """`read(ids)` over a Table resource: the profile items among `ids` (batched; `attributes` must name
    `profile_id` and `redirect_to` when given)."""

    def read(profile_ids: set[str]) -> dict[str, Item]:
        keys = [profile_key(profile_id) for profile_id in profile_ids]
        items = batch_get_items(table.meta.client, table.name, keys, consistent, attributes)
        return {item["profile_id"]: item for item in items}

    return read


def update_live_profile(table: Any, profile_id: str, update: str, values: Item, names: dict[str, str] | None = None) -> bool:
    """UpdateItem on a live profile item (it exists and was not merged away); False when it is not one."""
    request: Item = {
        "Key": profile_key(profile_id),
        "UpdateExpression": update,
        "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(redirect_to)",
        "ExpressionAttributeValues": values,
    }
    try:
        table.update_item(**request, **({"ExpressionAttributeNames": names} if names else {}))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def live_item(table: Any, profile_id: str) -> Item | None:
    """The live profile item `profile_id` is or was merged into (consistent GetItems through the
    resource's thread-safe client, one per hop), or None."""

    def read(profile_ids: set[str]) -> dict[str, Item]:
        items = (
            table.meta.client.get_item(TableName=table.name, Key=profile_key(pid), ConsistentRead=True).get("Item")
            for pid in profile_ids
        )
        return {item["profile_id"]: item for item in items if item is not None}

    chain = redirect_chains(read, [profile_id])[profile_id]
    return chain[-1] if chain else None
