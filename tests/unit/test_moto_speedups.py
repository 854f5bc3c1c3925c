"""The local stack's faster DynamoDB paths answer exactly what moto answers without them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from typing import Any
from unittest import mock

import boto3
import jmespath
import pytest
from botocore.exceptions import ClientError
from botocore.serialize import JSONSerializer, create_serializer
from botocore.session import get_session
from cdp_local.moto_speedups import (
    OPERATION_CONTEXT_PATHS,
    _item_size,
    _request_id,
    _RequestRouter,
    _size,
    faster_dynamodb,
    original_dynamo_to_dict,
    typed,
)
from cdp_local.moto_speedups import dynamo_to_dict as faster_dynamo_to_dict
from cdp_local.moto_transactions import transactions_that_snapshot_only_touched_items
from jmespath.exceptions import JMESPathError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.botocore_stubber import BotocoreStubber
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.responses import DynamoHandler

TABLE = "speedups"
Outcome = dict[str, Any]


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    yield


def _outcome(call: Callable[[], dict[str, Any]]) -> Outcome:
    """A call's answer without its request id, or its error code, message, cancellation reasons and old item (or,
    where moto lets an exception of its own escape, its type and message)."""
    try:
        answer = call()
    except ClientError as error:
        return {
            "error": error.response["Error"],
            "reasons": error.response.get("CancellationReasons"),
            "item": error.response.get("Item"),
        }
    except Exception as error:  # noqa: BLE001 - moto's own exception, compared as it is
        return {"raised": type(error).__name__, "message": str(error)}
    answer.pop("ResponseMetadata", None)
    return answer


def _conditional_put(client: Any, pk: str, claim: str) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": TABLE,
            "Item": {"pk": {"S": pk}, "sk": {"S": "K"}, "claim": {"S": claim}},
            "ConditionExpression": "attribute_not_exists(pk) OR claim = :claim",
            "ExpressionAttributeValues": {":claim": {"S": claim}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _expiring_claim(pk: str, claim: str, now: int) -> dict[str, Any]:
    """A natural-key claim as the ingest makes it: absent, expired, or the same claim."""
    return {
        "Put": {
            "TableName": TABLE,
            "Item": {"pk": {"S": pk}, "sk": {"S": "K"}, "claim": {"S": claim}, "expires_at": {"N": "8"}},
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now OR claim = :claim",
            "ExpressionAttributeValues": {":claim": {"S": claim}, ":now": {"N": str(now)}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _versioned_update(item: dict[str, Any], version: str, revenue: str) -> dict[str, Any]:
    """A profile update as apply makes it: SET changed attributes, ADD the version, only if the version is the one read."""
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": item["pk"], "sk": item["sk"]},
            "UpdateExpression": "SET #v0 = :v0, seen = list_append(if_not_exists(seen, :empty), :v1) ADD version :one",
            "ConditionExpression": "version = :version",
            "ExpressionAttributeNames": {"#v0": "revenue"},
            "ExpressionAttributeValues": {
                ":v0": {"N": revenue}, ":v1": {"L": [{"S": revenue}]}, ":empty": {"L": []}, ":one": {"N": "1"},
                ":version": {"N": version},
            },
        }
    }


def _create_keyed_table(client: Any) -> None:
    """TABLE, keyed by `pk` and `sk` (strings) as the product's tables are."""
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _exercise() -> list[Outcome]:
    """Reads and writes of every shape a local run makes, including the cases moto answers with an error."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    _create_keyed_table(client)
    profile = {
        "pk": {"S": "PROFILE#1"},
        "sk": {"S": "PROFILE"},
        "revenue": {"N": "12.50"},
        "orders": {"L": [{"S": "o1"}, {"N": "2"}, {"BOOL": True}, {"NULL": True}]},
        "categories": {"M": {"toys": {"N": "3"}, "empty": {"M": {}}}},
        "tags": {"SS": ["a", "b"]},
        "scores": {"NS": ["1", "2.5"]},
        "empty_list": {"L": []},
        "photo": {"B": b"\x00\x01binary"},
    }
    outcomes = [
        _outcome(lambda: client.put_item(TableName=TABLE, Item=profile, ReturnValues="ALL_OLD")),
        _outcome(lambda: client.get_item(TableName=TABLE, Key={"pk": profile["pk"], "sk": profile["sk"]})),
        _outcome(
            lambda: client.get_item(
                TableName=TABLE, Key={"pk": profile["pk"], "sk": profile["sk"]}, ProjectionExpression="revenue, tags"
            )
        ),
        _outcome(lambda: client.get_item(TableName=TABLE, Key={"pk": {"S": "none"}, "sk": {"S": "none"}})),
        _outcome(
            lambda: client.update_item(
                TableName=TABLE,
                Key={"pk": profile["pk"], "sk": profile["sk"]},
                UpdateExpression="SET revenue = :r ADD version :one",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(version)",
                ExpressionAttributeValues={":r": {"N": "20"}, ":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
                ReturnConsumedCapacity="TOTAL",
            )
        ),
        _outcome(
            lambda: client.update_item(  # the same condition again: now it fails
                TableName=TABLE,
                Key={"pk": profile["pk"], "sk": profile["sk"]},
                UpdateExpression="SET revenue = :r ADD version :one",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(version)",
                ExpressionAttributeValues={":r": {"N": "20"}, ":one": {"N": "1"}},
            )
        ),
        _outcome(lambda: client.transact_write_items(TransactItems=[_conditional_put(client, f"K#{n}", "f#1") for n in range(5)])),
        *[  # a versioned profile update as a transaction makes it: the same text with other values, then a stale version
            _outcome(partial(client.transact_write_items, TransactItems=[_versioned_update(profile, version, revenue)]))
            for version, revenue in (("1", "30"), ("2", "31.5"), ("2", "99"))
        ],
        *[  # an update expression moto cannot parse: the same error each time, nothing kept
            _outcome(
                lambda: client.update_item(
                    TableName=TABLE, Key={"pk": profile["pk"], "sk": profile["sk"]}, UpdateExpression="SET = :x",
                    ExpressionAttributeValues={":x": {"S": "x"}},
                )
            )
            for _ in range(2)
        ],
        _outcome(lambda: client.get_item(TableName=TABLE, Key={"pk": profile["pk"], "sk": profile["sk"]})),
        _outcome(  # two keys claimed by another line, one by this one: cancelled, reasons with the old items
            lambda: client.transact_write_items(
                TransactItems=[_conditional_put(client, f"K#{n}", "f#2" if n < 2 else "f#1") for n in range(4)]
            )
        ),
        _outcome(lambda: client.transact_write_items(TransactItems=[_conditional_put(client, "K#9", "f#1")] * 2)),
        _outcome(  # a value the condition does not use
            lambda: client.put_item(
                TableName=TABLE,
                Item=profile,
                ConditionExpression="attribute_not_exists(pk)",
                ExpressionAttributeValues={":unused": {"S": "x"}},
            )
        ),
        _outcome(  # the claim condition with a number: the same text and placeholders, other values, both outcomes
            lambda: client.transact_write_items(
                TransactItems=[_expiring_claim(f"K#{n}", "f#3", expires_at) for n, expires_at in ((1, 5), (7, 9))]
            )
        ),
        *[  # K#8 new, then expired at 9 (claimed again), then not expired at 5
            _outcome(partial(client.transact_write_items, TransactItems=[_expiring_claim("K#8", claim, now)]))
            for claim, now in (("f#3", 9), ("f#4", 9), ("f#5", 5))
        ],
        *[  # a transaction's conditional delete and condition check, each holding and failing
            _outcome(
                partial(
                    client.transact_write_items,
                    TransactItems=[
                        {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "K#2"}, "sk": {"S": "K"}},
                                            "ConditionExpression": "claim = :c", "ExpressionAttributeValues": {":c": {"S": claim}}}},
                        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "K#3"}, "sk": {"S": "K"}},
                                    "ConditionExpression": "claim = :c", "ExpressionAttributeValues": {":c": {"S": claim}},
                                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
                    ],
                )
            )
            for claim in ("f#2", "f#1")
        ],
        *[  # a BETWEEN, then the same with a NULL bound (refused as the condition is built), alone and in a transaction
            _outcome(partial(call, **{"ConditionExpression": "expires_at BETWEEN :low AND :high",
                                      "ExpressionAttributeValues": {":low": low, ":high": {"N": "9"}}}))
            for call in (
                partial(client.put_item, TableName=TABLE, Item={"pk": {"S": "K#4"}, "sk": {"S": "K"}}),
                lambda **condition: client.transact_write_items(TransactItems=[
                    {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "K#4"}, "sk": {"S": "K"}}, **condition}}
                ]),
            )
            for low in ({"N": "1"}, {"NULL": True})
        ],
        _outcome(  # a condition naming a placeholder without a value
            lambda: client.transact_write_items(TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "K#4"}, "sk": {"S": "K"}}, "ConditionExpression": "claim = :missing",
                         "ExpressionAttributeValues": {":other": {"S": "x"}}}}
            ])
        ),
        _outcome(  # an item over the size limit
            lambda: client.put_item(
                TableName=TABLE,
                Item={"pk": {"S": "K#11"}, "sk": {"S": "K"}, **{f"a{n}": {"S": "x" * 50_000} for n in range(9)}},
            )
        ),
        _outcome(
            lambda: client.batch_get_item(
                RequestItems={TABLE: {"Keys": [{"pk": {"S": f"K#{n}"}, "sk": {"S": "K"}} for n in range(7)], "ConsistentRead": True}}
            )
        ),
        _outcome(lambda: client.query(TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "K#1"}})),
        _outcome(lambda: client.scan(TableName=TABLE, Limit=2)),
        _outcome(lambda: client.scan(TableName=TABLE, FilterExpression="claim = :c", ExpressionAttributeValues={":c": {"S": "f#1"}})),
        _outcome(lambda: client.scan(TableName=TABLE, FilterExpression="claim = :c", ExpressionAttributeValues={":c": {"S": "f#3"}})),
        _outcome(  # a map attribute named like a binary type: parsed by moto, answered alike
            lambda: client.put_item(TableName=TABLE, Item={"pk": {"S": "K#12"}, "sk": {"S": "K"}, "m": {"M": {"B": {"S": "b"}}}})
        ),
        _outcome(lambda: client.scan(TableName=TABLE, Select="COUNT")),
        _outcome(
            lambda: client.batch_write_item(
                RequestItems={TABLE: [{"DeleteRequest": {"Key": {"pk": {"S": "K#0"}, "sk": {"S": "K"}}}}]}
            )
        ),
        _outcome(lambda: client.delete_item(TableName=TABLE, Key={"pk": {"S": "K#1"}, "sk": {"S": "K"}}, ReturnValues="ALL_OLD")),
        *_cancelled_transactions(client),
    ]
    outcomes.append({"key_schema": client.describe_table(TableName=TABLE)["Table"]["KeySchema"]})
    return outcomes


def _cancelled_transactions(client: Any) -> list[Outcome]:
    """A transaction whose writes are undone (a delete, a put over an item, a new item and an update, before a
    failing condition check), items refused by the put itself (a key of the wrong type or too long, a malformed
    number) or by the transaction (an item named twice); then the items."""
    def key(pk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": "K"}}

    def put(item: dict[str, Any], **options: Any) -> dict[str, Any]:
        return {"Put": {"TableName": TABLE, "Item": item, **options}}

    for pk in ("K#40", "K#41", "K#43"):
        client.put_item(TableName=TABLE, Item={**key(pk), "claim": {"S": "before"}})
    transactions = [
        [{"Delete": {"TableName": TABLE, "Key": key("K#40")}}, put({**key("K#41"), "claim": {"S": "over"}}),
         put({**key("K#42"), "n": {"N": "1"}}),
         {"Update": {"TableName": TABLE, "Key": key("K#43"), "UpdateExpression": "SET claim = :c",
                     "ExpressionAttributeValues": {":c": {"S": "changed"}}}},
         {"ConditionCheck": {"TableName": TABLE, "Key": key("K#2"), "ConditionExpression": "attribute_not_exists(pk)"}}],
        [put(key("K#44")), put({"pk": {"N": "1"}, "sk": {"S": "K"}})],
        [put(key("K#44")), put({"pk": {"S": "x" * 2049}, "sk": {"S": "K"}})],
        [put(key("K#44")), put({"pk": {"S": "K#47"}, "sk": {"S": "y" * 1025}})],
        [put({**key("K#44"), "m": {"M": {"N": {"S": "not a number"}}}}), put({**key("K#45"), "n": {"N": " 1"}})],
        [put(key("K#46"), ConditionExpression="attribute_not_exists(pk)"), put(key("K#46"))],
    ]
    outcomes = [_outcome(partial(client.transact_write_items, TransactItems=items)) for items in transactions]
    reads = [key(f"K#{n}") for n in range(40, 47)]
    return outcomes + [_outcome(partial(client.get_item, TableName=TABLE, Key=read)) for read in reads]


def _plain_then_faster(
    exercise: Callable[[], list[Outcome]], *stack_patches: Callable[[], Any]
) -> tuple[list[Outcome], list[Outcome]]:
    """The exercise's outcomes against plain moto, then with the faster paths in place (after the local stack's
    patches given, in the order the stack makes them)."""
    with mock_aws():
        expected = exercise()
    with mock_aws(), ExitStack() as patches:
        for patch in stack_patches:
            patches.enter_context(patch())
        patches.enter_context(faster_dynamodb())
        return expected, exercise()


@pytest.mark.parametrize("stack_patches", [(), (transactions_that_snapshot_only_touched_items,)], ids=["alone", "in-stack"])
def test_every_answer_is_the_one_moto_gives_without_the_faster_paths(stack_patches: tuple[Any, ...]) -> None:
    # Given the same calls made against plain moto, then with the faster paths in place (alone, and after the local
    # stack's transactions)
    expected, answers = _plain_then_faster(_exercise, *stack_patches)

    # Then every answer and error is the same, conditions included (a kept parse never answers for other values)
    assert answers == expected
    assert [answer.get("error", {}).get("Code") for answer in answers if "error" in answer] == [
        "ConditionalCheckFailedException",
        "TransactionCanceledException",  # the stale version
        "ValidationException",  # the unparsable update, twice
        "ValidationException",
        "TransactionCanceledException",
        "ValidationException",
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
        "TransactionCanceledException",
        "TransactionCanceledException",  # the condition check and delete whose conditions fail
        "ConditionalCheckFailedException",  # BETWEEN on an item without the attribute, alone and in a transaction
        "TransactionCanceledException",
        "ValidationException",  # the item over the size limit
        "TransactionCanceledException",  # writes undone by a failing condition check
        "ValidationException",  # a key of the wrong type
        "ValidationException",  # a hash key too long
        "ValidationException",  # a range key too long
        "TransactionCanceledException",  # a malformed number
        "ValidationException",  # an item named twice
    ]
    assert [answer["raised"] for answer in answers if "raised" in answer] == [  # as moto lets them escape
        "IncorrectOperandType",
        "IncorrectOperandType",
        "KeyError",
    ]


def _exercise_queries() -> list[Outcome]:
    """Queries of a table and of its indexes as a local run makes them (send records found by their provider's
    message id through a keys-only index), with pages, order, range conditions and items the index leaves out."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    attributes = [("pk", "S"), ("sk", "S"), ("message_id", "S"), ("score", "N"), ("at", "S")]
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind} for name, kind in attributes],
        GlobalSecondaryIndexes=[
            {"IndexName": "ByMessage", "KeySchema": [{"AttributeName": "message_id", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "ByScore", "KeySchema": [{"AttributeName": "score", "KeyType": "HASH"},
                                                   {"AttributeName": "at", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(40):
        item = {"pk": {"S": f"P#{n % 7}"}, "sk": {"S": f"S#{n:03}"}, "body": {"S": "x" * n},
                "loyalty": {"M": {"tier": {"S": "gold"}, "points": {"N": str(n)}, "history": {"L": [{"N": "1"}, {"S": "a"}]}}},
                "tags": {"L": [{"S": f"t{n}"}, {"M": {"k": {"SS": ["a", "b"]}}}]}, "photo": {"B": bytes([n])}}
        if n % 3:
            item["message_id"] = {"S": f"m-{n % 5}"}
        if n % 4:
            item["score"] = {"N": str(n % 3) + (".0" if n % 2 else "")}
            item["at"] = {"S": f"2026-12-{n % 28 + 1:02}"}
        client.put_item(TableName=TABLE, Item=item)
    client.put_item(TableName=TABLE, Item={  # numbers in other than their canonical text, plain values in lists and maps
        "pk": {"S": "P#8"}, "sk": {"S": "S#100"}, "n1": {"N": "01"}, "n2": {"N": "1e2"}, "n3": {"N": "2.50"},
        "flags": {"M": {"on": {"BOOL": True}, "none": {"NULL": True}, "list": {"L": [{"S": "a"}, {"N": "-0"}, {"N": "7"}]}}},
    })
    client.delete_item(TableName=TABLE, Key={"pk": {"S": "P#1"}, "sk": {"S": "S#008"}})
    client.update_item(TableName=TABLE, Key={"pk": {"S": "P#2"}, "sk": {"S": "S#009"}},
                       UpdateExpression="SET message_id = :m", ExpressionAttributeValues={":m": {"S": "m-new"}})

    def query(**request: Any) -> Outcome:
        return _outcome(partial(client.query, TableName=TABLE, **request))

    def pages(**request: Any) -> list[Outcome]:
        answers, start = [], None
        while True:
            answer = query(**request, **({"ExclusiveStartKey": start} if start else {}))
            answers.append(answer)
            start = answer.get("LastEvaluatedKey")
            if not start:
                return answers

    def equal(name: str, value: dict[str, str]) -> dict[str, Any]:
        return {"KeyConditionExpression": f"{name} = :v", "ExpressionAttributeValues": {":v": value}}

    return [
        query(**equal("pk", {"S": "P#3"})),
        query(**equal("pk", {"S": "P#none"})),
        query(KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
              ExpressionAttributeValues={":p": {"S": "P#2"}, ":a": {"S": "S#005"}, ":b": {"S": "S#030"}}, ScanIndexForward=False),
        *pages(**equal("pk", {"S": "P#4"}), Limit=2),
        *[query(IndexName="ByMessage", **equal("message_id", {"S": message})) for message in ("m-1", "m-new", "m-9")],
        *pages(IndexName="ByMessage", **equal("message_id", {"S": "m-2"}), Limit=3),
        query(IndexName="ByScore", **equal("score", {"N": "1"})),  # "1" and "1.0" are the same number
        query(IndexName="ByScore", KeyConditionExpression="score = :s AND #at >= :at", ExpressionAttributeNames={"#at": "at"},
              ExpressionAttributeValues={":s": {"N": "2"}, ":at": {"S": "2026-12-10"}}, ScanIndexForward=False),
        *pages(IndexName="ByScore", **equal("score", {"N": "0"}), Limit=2, FilterExpression="attribute_exists(body)"),
        query(IndexName="ByScore", **equal("score", {"S": "1"})),  # a value of the wrong type
        query(IndexName="Missing", **equal("message_id", {"S": "m-1"})),
        query(**equal("message_id", {"S": "m-1"})),  # not the table's key
        *[  # projections: top-level names (one absent), nested paths, list elements, overlapping paths
            _outcome(partial(client.scan, TableName=TABLE, ProjectionExpression=projection, **names))
            for projection, names in (
                ("pk, #l, tags, photo, absent", {"ExpressionAttributeNames": {"#l": "loyalty"}}),
                ("pk, loyalty.tier, loyalty.history[1], tags[1].k", {}),
                ("loyalty, loyalty.points", {}),
                ("tags[0], sk", {}),
                ("pk, n1, n2, n3, flags", {}),
                ("flags, sk", {}),
                ("sk, loyalty, body", {}),
            )
        ],
        query(**equal("pk", {"S": "P#5"}), ProjectionExpression="sk, loyalty, body"),
        *_numbered_scans(client),
    ]


def _numbered_scans(client: Any) -> list[Outcome]:
    """Scans of a table keyed by numbers (ordered as numbers, not as text), in pages."""
    client.create_table(
        TableName="numbered", KeySchema=[{"AttributeName": "n", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "n", "AttributeType": "N"}], BillingMode="PAY_PER_REQUEST",
    )
    for number in ("10", "9", "1.5", "-3", "100", "0.25", "2"):
        client.put_item(TableName="numbered", Item={"n": {"N": number}})
    first = _outcome(partial(client.scan, TableName="numbered", Limit=4))
    return [first, _outcome(partial(client.scan, TableName="numbered", Limit=4, ExclusiveStartKey=first["LastEvaluatedKey"]))]


def test_every_query_answer_is_the_one_moto_gives_without_the_faster_paths() -> None:
    # Given queries of a table and its indexes made against plain moto, then with the faster paths in place
    expected, answers = _plain_then_faster(_exercise_queries)

    # Then every answer, page and error is the same
    assert answers == expected
    assert sum(len(answer.get("Items", [])) for answer in answers) > 40
    assert [answer["error"]["Code"] for answer in answers if "error" in answer] == [
        "ResourceNotFoundException",  # the index that is not there
        "ValidationException",  # a condition on an attribute that is not the key
    ]


def _exercise_scans() -> list[Outcome]:
    """Paged scans as a local run makes them (parallel segments, filters, projections), with items put, deleted,
    updated and replaced between the pages of one scan, and a table keyed by its hash key alone."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    _create_keyed_table(client)
    for n in range(60):
        client.put_item(TableName=TABLE, Item={"pk": {"S": f"P#{n % 11}"}, "sk": {"S": f"S#{n:03}"}, "n": {"N": str(n)}})

    def pages(changes: list[Callable[[], Any]] = [], **request: Any) -> list[Outcome]:  # noqa: B006
        answers, start, pending = [], None, list(changes)
        while True:
            answers.append(_outcome(partial(client.scan, TableName=TABLE, **request, **({"ExclusiveStartKey": start} if start else {}))))
            start = answers[-1].get("LastEvaluatedKey")
            if not start:
                return answers
            if pending:  # the table changes between two pages of the same scan
                pending.pop(0)()

    changes = [
        lambda: client.put_item(TableName=TABLE, Item={"pk": {"S": "P#0"}, "sk": {"S": "S#000a"}, "n": {"N": "-1"}}),
        lambda: client.delete_item(TableName=TABLE, Key={"pk": {"S": "P#5"}, "sk": {"S": "S#016"}}),
        lambda: client.update_item(TableName=TABLE, Key={"pk": {"S": "P#7"}, "sk": {"S": "S#040"}},
                                   UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "400"}}),
        lambda: client.put_item(TableName=TABLE, Item={"pk": {"S": "P#9"}, "sk": {"S": "S#053"}, "n": {"N": "530"}}),
        lambda: client.delete_item(TableName=TABLE, Key={"pk": {"S": "P#3"}, "sk": {"S": "S#058"}}),
    ]
    filtered = {"FilterExpression": "n > :low", "ExpressionAttributeValues": {":low": {"N": "20"}}}
    client.create_table(
        TableName="hashed", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    for n in range(25):
        client.put_item(TableName="hashed", Item={"id": {"S": f"id-{n * 7 % 25}"}})
    return [
        *pages(Limit=7),
        *pages(changes, Limit=6),
        *[answer for segment in range(3) for answer in pages(Limit=4, Segment=segment, TotalSegments=3)],
        *[answer for segment in range(2) for answer in pages(changes[:2], Limit=5, Segment=segment, TotalSegments=2, **filtered)],
        *pages(Limit=9, ProjectionExpression="sk, n"),
        *pages(Limit=9, Select="COUNT", **filtered),
        *pages(Limit=5, ScanFilter={"n": {"AttributeValueList": [{"N": "30"}], "ComparisonOperator": "GT"}}),
        *pages(Limit=5, ScanFilter={"absent": {"ComparisonOperator": "NULL"}, "n": {"ComparisonOperator": "NOT_NULL"}}),
        *[_outcome(partial(client.scan, TableName="hashed", Limit=size)) for size in (4, 100)],
        _outcome(partial(client.scan, TableName="hashed", Limit=4, ExclusiveStartKey={"id": {"S": "id-12"}})),
        _outcome(partial(client.scan, TableName="hashed", Limit=4, ExclusiveStartKey={"id": {"S": "id-12a"}})),  # not an item
    ]


def test_every_scan_page_is_the_one_moto_gives_without_the_faster_paths() -> None:
    # Given paged and segmented scans, with the table changing between pages, against plain moto, then faster
    expected, answers = _plain_then_faster(_exercise_scans)

    # Then every page is the same
    assert answers == expected
    assert sum(len(answer.get("Items", [])) for answer in answers) > 200


def _exercise_sizes_after_updates() -> list[Outcome]:
    """Scan pages cut by the 1 MB limit, and batch reads, before and after updates change items' sizes: a REMOVE, a
    nested list growing through moto's own executors, an update in a transaction, a conditional update refused,
    updates in a row on an item whose size was kept, one of them past the item size limit."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    _create_keyed_table(client)
    keys = [{"pk": {"S": "P"}, "sk": {"S": f"S#{n}"}} for n in range(6)]
    for key in keys:
        client.put_item(TableName=TABLE, Item={**key, "body": {"S": "x" * 250_000}, "m": {"M": {"l": {"L": []}}}})

    def reads() -> list[Outcome]:
        answers, start = [], None
        while True:
            answers.append(_outcome(partial(client.scan, TableName=TABLE, ProjectionExpression="sk",
                                            **({"ExclusiveStartKey": start} if start else {}))))  # fmt: skip
            start = answers[-1].get("LastEvaluatedKey")
            if not start:
                return [*answers, _outcome(lambda: client.batch_get_item(
                    RequestItems={TABLE: {"Keys": keys, "ProjectionExpression": "sk"}}))]

    def update(n: int, expression: str, values: dict[str, Any] | None = None, **options: Any) -> Outcome:
        return _outcome(partial(client.update_item, TableName=TABLE, Key=keys[n], UpdateExpression=expression,
                                **({"ExpressionAttributeValues": values} if values else {}), **options))  # fmt: skip

    big_list = {":more": {"L": [{"S": "y" * 1000}] * 300}}
    return [
        *reads(),
        update(1, "REMOVE body"),
        *reads(),
        update(2, "SET m.l = list_append(m.l, :more)", big_list),
        *reads(),
        _outcome(lambda: client.transact_write_items(TransactItems=[{"Update": {
            "TableName": TABLE, "Key": keys[3], "UpdateExpression": "SET body = :b",
            "ExpressionAttributeValues": {":b": {"S": "small"}}}}])),
        *reads(),
        update(4, "SET body = :b", {":b": {"S": "small"}, ":no": {"S": "no"}}, ConditionExpression="body = :no"),
        update(5, "SET m.l = list_append(m.l, :more)", big_list),
        *reads(),
        # updates one after another on an item whose size was kept, up to its limit and past it, and back
        update(0, "SET extra = :big", {":big": {"S": "z" * 100_000}}),
        update(0, "SET extra2 = :big", {":big": {"S": "z" * 60_000}}),
        update(0, "SET extra3 = :big", {":big": {"S": "z" * 1_000}}),
        *reads(),
        update(0, "SET extra = :small", {":small": {"S": "z"}}),
        update(0, "SET extra3 = :big", {":big": {"S": "z" * 1_000}}),
        update(0, "SET extra4 = :big, extra5 = :big", {":big": {"S": "z" * 49_000}}),
        update(0, "ADD n :one", {":one": {"N": "1"}}),
        update(0, "SET extra6 = :big", {":big": {"S": "z" * 60_000}}),
        *reads(),
    ]


@pytest.mark.parametrize("stack_patches", [(), (transactions_that_snapshot_only_touched_items,)], ids=["alone", "in-stack"])
def test_pages_follow_items_sizes_as_updates_change_them(stack_patches: tuple[Any, ...]) -> None:
    # Given items near the page limit read, then changed in size by updates, and read again, against plain moto, then
    # with the faster paths (which keep each item's size until an update changes it)
    expected, answers = _plain_then_faster(_exercise_sizes_after_updates, *stack_patches)

    # Then every page boundary, read and refusal is the same
    assert answers == expected
    assert len({str(answer.get("LastEvaluatedKey")) for answer in answers if "Count" in answer}) > 2


def _large_profile(pk: str) -> dict[str, Any]:
    """A profile-like item of a few hundred entries: order ids, points by day, categories, a tag set."""
    return {
        "pk": {"S": pk}, "sk": {"S": "PROFILE"}, "version": {"N": "1"}, "revenue": {"N": "10.5"},
        "order_ids": {"L": [{"S": f"ORDER-{n:05}"} for n in range(120)]},
        "points_by_day": {"M": {f"2011-{n // 28 + 1:02}-{n % 28 + 1:02}": {"N": str(n)} for n in range(120)}},
        "categories": {"M": {f"cat-{n}": {"M": {"count": {"N": str(n)}, "last": {"S": "2011-12-09"}}} for n in range(40)}},
        "tags": {"SS": ["a", "b"]}, "scores": {"NS": ["1", "2.5"]}, "consent": {"BOOL": True}, "nothing": {"NULL": True},
    }


def _update(client: Any, pk: str, expression: str, values: dict[str, Any] | None = None, **request: Any) -> Outcome:
    key = {"pk": {"S": pk}, "sk": {"S": "PROFILE"}}
    values_given = {"ExpressionAttributeValues": values} if values else {}
    return _outcome(partial(client.update_item, TableName=TABLE, Key=key, UpdateExpression=expression, **values_given, **request))


def _profile_update(pk: str, expression: str, values: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
    update = {"TableName": TABLE, "Key": {"pk": {"S": pk}, "sk": {"S": "PROFILE"}}, "UpdateExpression": expression,
              "ExpressionAttributeValues": values, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    return {"Update": {**update, **({"ConditionExpression": condition} if condition else {})}}


def _exercise_updates() -> list[Outcome]:
    """Updates of large items as a local run makes them and as it could: every ReturnValues, conditions that fail
    (with the old item returned), nested paths, sets, removals, items pushed over the size limit (by a top-level
    attribute after a nested one grew, and by replacing an attribute), updates in transactions (one cancelled, one
    over the limit), and a table with a stream; each item read back after the calls that change it."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    _create_keyed_table(client)
    for pk in ("P#1", "P#2", "P#3", "P#4"):
        client.put_item(TableName=TABLE, Item=_large_profile(pk))

    def read(pk: str) -> Outcome:
        return _outcome(partial(client.get_item, TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "PROFILE"}}))

    two = {":r": {"N": "11"}, ":d": {"S": "2011-12-10"}, ":v": {"N": "1"}}
    outcomes = [
        *[  # the same update (then a changing one) with every ReturnValues, and one ReturnValues moto refuses
            _update(client, "P#1", "SET revenue = :r, last_seen = :d", two, ConditionExpression="version = :v", **returned)
            for returned in ({}, {"ReturnValues": "NONE"}, {"ReturnValues": "ALL_OLD"}, {"ReturnValues": "UPDATED_OLD"},
                             {"ReturnValues": "UPDATED_NEW"}, {"ReturnValues": "ALL_NEW"}, {"ReturnValues": "SOME"})
        ],
        *[
            _update(client, "P#1", "SET revenue = revenue + :one, order_ids = list_append(order_ids, :o) ADD version :one",
                    {":one": {"N": "1"}, ":o": {"L": [{"S": f"NEW-{returned}"}]}}, ReturnValues=returned)
            for returned in ("NONE", "ALL_OLD", "UPDATED_OLD", "UPDATED_NEW", "ALL_NEW")
        ],
        read("P#1"),
        *[  # a condition that fails, with and without the old item returned
            _update(client, "P#1", "SET revenue = :r", {":r": {"N": "0"}, ":v": {"N": "1"}}, ConditionExpression="version = :v",
                    **returned)
            for returned in ({}, {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"},
                             {"ReturnValuesOnConditionCheckFailure": "ALL_OLD", "ReturnValues": "ALL_NEW"})
        ],
        _update(client, "P#1", "SET #r = :r", {":r": {"N": "0"}},
                ExpressionAttributeNames={"#r": "revenue", "#unused": "x"}),  # a name the expressions do not use
        _update(client, "P#1", "SET revenue = :r", {":r": {"N": "0"}, ":unused": {"N": "0"}}),
        _update(client, "P#1", "ADD tags :n", {":n": {"N": "1"}}),  # a number added to a string set
        _update(client, "P#1", "SET order_ids[0] = :o, points_by_day.#day = :p, categories.#cat.#count = :c "
                "REMOVE order_ids[5], categories.#gone ADD tags :t, scores :s",
                {":o": {"S": "FIRST"}, ":p": {"N": "7"}, ":c": {"N": "99"}, ":t": {"SS": ["c", "d"]}, ":s": {"NS": ["3"]}},
                ExpressionAttributeNames={"#day": "2012-01-01", "#cat": "cat-3", "#count": "count", "#gone": "cat-4"},
                ReturnValues="ALL_NEW"),
        _update(client, "P#1", "SET categories.#cat.#count = :c, order_ids[1] = :o ADD categories.#cat.seen :one "
                "DELETE tags :d", {":o": {"S": "SECOND"}, ":c": {"N": "100"}, ":one": {"N": "1"}, ":d": {"SS": ["a", "z"]}},
                ExpressionAttributeNames={"#cat": "cat-5", "#count": "count"}, ReturnValues="UPDATED_NEW"),
        _update(client, "P#1", "REMOVE order_ids[2], order_ids[0], categories.#cat.#count SET points_by_day.#day = :p",
                {":p": {"N": "8"}}, ExpressionAttributeNames={"#cat": "cat-6", "#count": "count", "#day": "2011-01-01"},
                ReturnValues="UPDATED_OLD"),
        _update(client, "P#1", "REMOVE nothing, consent SET revenue = :r", {":r": {"N": "1"}}, ReturnValues="UPDATED_OLD"),
        read("P#1"),
        _update(client, "P#new", "SET revenue = :r ADD version :one", {":r": {"N": "5"}, ":one": {"N": "1"}}, ReturnValues="ALL_OLD"),
        _update(client, "P#new2", "SET revenue = :r", {":r": {"N": "5"}}),
        read("P#new"),
        # over the size limit: a top-level attribute too large; one set after a nested attribute grew in place in
        # the same update; a set member added in place, then a top-level set; an attribute replaced by one of its size
        # (moto counts the old value and the new one); an item brought just under the limit
        _update(client, "P#2", "SET big = :big", {":big": {"S": "x" * 410_000}}),
        _update(client, "P#2", "SET revenue = :r, categories.#c = :big, later = :small",
                {":r": {"N": "1"}, ":big": {"S": "x" * 300_000}, ":small": {"S": "y" * 110_000}},
                ExpressionAttributeNames={"#c": "cat-0"}),
        read("P#2"),
        _update(client, "P#3", "SET half = :half", {":half": {"S": "h" * 200_000}}),
        _update(client, "P#3", "ADD version :one, tags :t SET later = :small",
                {":one": {"N": "1"}, ":t": {"SS": ["t" * 190_000]}, ":small": {"S": "s" * 20_000}}),
        read("P#3"),
        _update(client, "P#3", "SET half = :half", {":half": {"S": "H" * 200_000}}),
        _update(client, "P#3", "REMOVE tags, later SET half = :half", {":half": {"S": "H" * 150_000}}, ReturnValues="UPDATED_NEW"),
        _update(client, "P#3", "SET half = :small, later = :large",  # fits once the replaced attribute is counted out
                {":small": {"S": "h"}, ":large": {"S": "L" * 300_000}}),
        read("P#3"),
        *_updates_in_transactions(client),
        *_updates_with_a_stream(client),
    ]
    return outcomes


def _updates_in_transactions(client: Any) -> list[Outcome]:
    """Versioned profile updates in transactions: applied, cancelled by a stale version (nothing changes, the old
    item comes back as the reason), cancelled by an update over the size limit, and invalid."""
    def transact(*updates: dict[str, Any]) -> Outcome:
        return _outcome(partial(client.transact_write_items, TransactItems=list(updates)))

    def read(pk: str) -> Outcome:
        return _outcome(partial(client.get_item, TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "PROFILE"}}))

    versioned = "SET revenue = :r, order_ids = list_append(order_ids, :o), points_by_day.#d = :p ADD version :one"

    def profile_update(pk: str, version: str, revenue: str) -> dict[str, Any]:
        update = _profile_update(pk, versioned, {":r": {"N": revenue}, ":o": {"L": [{"S": f"O-{revenue}"}]}, ":p": {"N": revenue},
                                                 ":one": {"N": "1"}, ":v": {"N": version}}, "version = :v")
        update["Update"]["ExpressionAttributeNames"] = {"#d": f"day-{revenue}"}
        return update

    current = read("P#2")["Item"]["version"]["N"]
    return [
        transact(profile_update("P#2", current, "20"), profile_update("P#4", "1", "21")),
        read("P#2"),
        transact(profile_update("P#2", str(int(current) + 1), "22"), profile_update("P#4", "1", "23")),  # P#4's is stale
        read("P#2"),
        read("P#4"),
        transact(profile_update("P#2", str(int(current) + 1), "24"),
                 _profile_update("P#4", "SET big = :big", {":big": {"S": "b" * 410_000}})),
        read("P#2"),
        read("P#4"),
        transact(profile_update("P#2", str(int(current) + 1), "25"), profile_update("P#missing", "1", "26")),
        transact(_profile_update("P#4", "ADD tags :t DELETE scores :s", {":t": {"SS": ["new"]}, ":s": {"NS": ["1"]}}),
                 profile_update("P#missing", "1", "27")),  # members changed in place, then rolled back
        read("P#4"),
        transact(profile_update("P#2", "0", "27"), profile_update("P#2", "0", "28")),  # the same item twice
        transact(_profile_update("P#2", "SET = :x", {":x": {"S": "x"}})),
        *[transact(_profile_update("P#2", expression, {":x": {"N": "1"}, ":t": {"SS": ["t"]}}))  # two clauses of a kind
          for expression in ("SET a = :x SET b = :x", "ADD c :x REMOVE d ADD e :x", "REMOVE f, g REMOVE h",
                             "SET a = :x REMOVE b ADD tags :t")],  # fmt: skip
        read("P#2"),
    ]


def _updates_with_a_stream(client: Any) -> list[Outcome]:
    """Updates of a table with a stream: the stream's records keep the old and new images."""
    client.create_table(
        TableName="streamed", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    client.put_item(TableName="streamed", Item={"id": {"S": "a"}, "m": {"M": {"x": {"L": [{"N": "1"}]}}}})
    client.update_item(TableName="streamed", Key={"id": {"S": "a"}}, UpdateExpression="SET m.x[1] = :n, n = :n",
                       ExpressionAttributeValues={":n": {"N": "2"}})
    client.update_item(TableName="streamed", Key={"id": {"S": "b"}}, UpdateExpression="SET n = :n",
                       ExpressionAttributeValues={":n": {"N": "3"}})
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].get_table("streamed")  # moto's streams API reads no shard
    return [{"event": record.record["eventName"], "images": {name: record.record["dynamodb"].get(name) for name in ("OldImage", "NewImage")}}
            for record in table.stream_shard.items]


@pytest.mark.parametrize("stack_patches", [(), (transactions_that_snapshot_only_touched_items,)], ids=["alone", "in-stack"])
def test_every_update_answer_is_the_one_moto_gives_without_the_faster_paths(stack_patches: tuple[Any, ...]) -> None:
    # Given updates of large items, alone and in transactions, against plain moto, then with the faster paths
    # (alone, and after the local stack's transaction snapshots)
    expected, answers = _plain_then_faster(_exercise_updates, *stack_patches)

    # Then every answer, error, item read back and stream record is the same
    assert answers == expected
    errors = [answer["error"] for answer in answers if "error" in answer]
    too_large = "Item size to update has exceeded the maximum allowed size"
    assert [error["Code"] for error in errors] == [
        "ValidationException",  # ReturnValues SOME
        *["ConditionalCheckFailedException"] * 3,
        *["ValidationException"] * 3,  # an unused name, an unused value, a number added to a string set
        *["ValidationException"] * 4,  # too large: alone, after a nested growth, after a set grew, replacing
        "TransactionCanceledException",  # a stale version
        "ValidationException",  # too large in a transaction
        *["TransactionCanceledException"] * 2,  # an item that is not there
        *["ValidationException"] * 2,  # the same item twice, an unparsable update
        *["ValidationException"] * 3,  # two SET, two ADD, two REMOVE clauses (one of each kind is fine)
    ]
    assert [error["Message"] for error in errors].count(too_large) == 5
    assert sum(answer.get("item") is not None for answer in answers) == 2  # ALL_OLD on a failed condition



def _exercise_plain_updates() -> list[Outcome]:
    """Updates made only of SET to a value, ADD and REMOVE of top-level attributes (the direct path), on an item,
    on no item, in a transaction, and each case moto refuses: an attribute named twice, a key attribute, a
    reserved word, a placeholder not given, an index key attribute set empty or to another type, an ADD of another
    type than the attribute's or of an empty set; each item read back."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    _create_keyed_table(client)
    client.create_table(
        TableName="indexed", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "owner_id", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "ByOwner", "KeySchema": [{"AttributeName": "owner_id", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=TABLE, Item=_large_profile("P#1"))
    values = {":n": {"N": "2.5"}, ":i": {"N": "3"}, ":s": {"S": "x"}, ":ss": {"SS": ["b", "c", "c"]},
              ":ns": {"NS": ["1"]}, ":empty": {"SS": []}, ":blank": {"S": ""}, ":m": {"M": {"a": {"L": [{"N": "1"}, {"S": "two"}]}}}}  # fmt: skip

    def update(pk: str, expression: str, names: dict[str, str] | None = None, table: str = TABLE, **request: Any) -> Outcome:
        used = {name: value for name, value in values.items() if name in re.findall(r":\w+", expression)}
        key = {"id": {"S": pk}} if table == "indexed" else {"pk": {"S": pk}, "sk": {"S": "PROFILE"}}
        given = {"ExpressionAttributeNames": names} if names else {}
        given |= {"ExpressionAttributeValues": used} if used else {}
        return _outcome(partial(client.update_item, TableName=table, Key=key, UpdateExpression=expression, **given,
                                **request))  # fmt: skip

    def read(pk: str, table: str = TABLE) -> Outcome:
        key = {"id": {"S": pk}} if table == "indexed" else {"pk": {"S": pk}, "sk": {"S": "PROFILE"}}
        return _outcome(partial(client.get_item, TableName=table, Key=key))

    return [
        update("P#1", "SET #r = :n, last_seen = :s, #m = :m ADD version :i, tags :ss, #c :n REMOVE order_ids, #gone",
               {"#r": "revenue", "#m": "map", "#c": "count", "#gone": "nothing"}, ReturnValues="ALL_NEW"),
        update("P#1", "ADD version :n, points :i, scores :ns, new_set :ss REMOVE absent SET #v = :s",
               {"#v": "value"}, ReturnValues="UPDATED_NEW"),
        update("P#1", "REMOVE consent, #t ADD version :i", {"#t": "tags"}, ReturnValues="UPDATED_OLD"),
        read("P#1"),
        update("P#new", "ADD version :i, tags :ss SET revenue = :n", ReturnValues="ALL_NEW"),
        update("P#new2", "REMOVE revenue"),
        read("P#new"),
        read("P#new2"),
        _outcome(partial(client.transact_write_items, TransactItems=[
            _profile_update("P#1", "SET revenue = :r ADD version :one", {":r": {"N": "1"}, ":one": {"N": "1"}}),
            _profile_update("P#new", "SET revenue = :r", {":r": {"N": "2"}, ":v": {"N": "9"}}, "version = :v"),
        ])),  # fmt: skip
        read("P#1"),
        *[update("P#1", expression, names) for expression, names in (
            ("SET #a = :s, revenue = :n", {"#a": "revenue"}),  # an attribute named twice
            ("SET a = :s REMOVE a", None),
            ("SET pk = :s", None),  # a key attribute
            ("ADD #k :i", {"#k": "sk"}),
            ("SET status = :s", None),  # a reserved word as a plain name
            ("SET #s = :s", {"#s": "status"}),  # the same through a placeholder: fine
            ("SET a = :s, b = :missing", None),  # a value placeholder not given
            ("SET #a = :s", None),  # a name placeholder not given
            ("ADD last_seen :i", None),  # a number added to a string
            ("ADD tags :ns", None),  # a set of numbers added to a set of strings (gone: a new set)
            ("ADD scores :ss", None),  # a set of strings added to a set of numbers
            ("ADD revenue :s", None),  # a string added
            ("ADD tags :empty", None),  # an empty set added
            ("SET a = :s SET b = :s", None),  # two clauses of a kind
        )],  # fmt: skip
        read("P#1"),
        update("I#1", "SET note = :s", table="indexed"),
        update("I#1", "SET owner_id = :s", table="indexed"),
        update("I#1", "SET owner_id = :blank", table="indexed"),  # an index key set empty
        update("I#1", "SET owner_id = :n", table="indexed"),  # an index key of another type
        update("I#1", "SET #o = :n", {"#o": "owner_id"}, table="indexed"),  # the same through a placeholder
        read("I#1", table="indexed"),
    ]


@pytest.mark.parametrize("stack_patches", [(), (transactions_that_snapshot_only_touched_items,)], ids=["alone", "in-stack"])
def test_every_plain_update_answer_is_the_one_moto_gives_without_the_faster_paths(stack_patches: tuple[Any, ...]) -> None:
    # Given top-level SET, ADD and REMOVE updates, valid and refused, against plain moto, then with the faster paths
    expected, answers = _plain_then_faster(_exercise_plain_updates, *stack_patches)

    # Then every answer, error and item read back is the same, and both the valid and the refused cases were made
    assert answers == expected
    errors = [answer for answer in answers if "error" in answer or "raised" in answer]
    assert 10 <= len(errors) < len(answers) - 10

def test_an_attribute_s_size_is_the_one_moto_counts_towards_the_item_limit() -> None:
    # Given values of every type, nested
    values = [
        {"S": "é" * 3}, {"N": "-12.50"}, {"B": b"\x00\x01"}, {"B": "AAE="}, {"BOOL": False}, {"NULL": True},
        {"SS": ["a", "ü"]}, {"NS": ["1", "2.25"]}, {"BS": [b"\x00", "AA=="]}, {"L": []}, {"M": {}},
        {"L": [{"S": "x"}, {"M": {"ключ": {"NS": ["3"]}, "l": {"L": [{"BOOL": True}, {"N": "7"}]}}}]},
        {"M": {"a": {"M": {"b": {"M": {"c": {"SS": ["deep"]}}}}}, "n": {"NULL": True}}},
    ]

    # Then each is measured as moto measures it, and so is an item holding them all under ASCII and other names
    assert [_size(DynamoType(value)) for value in values] == [DynamoType(value).size() for value in values]
    item = Item(DynamoType({"S": "k"}), None, {f"név{n}" if n % 2 else f"a{n}": value for n, value in enumerate(values)})
    assert _item_size(item) == item.size()


def test_an_attribute_value_casts_to_the_python_value_moto_casts_it_to() -> None:
    # Given attribute values of every type, numbers written in several ways among them
    values = [{"S": "x"}, {"S": ""}, {"N": "1"}, {"N": "01"}, {"N": "1e2"}, {"N": "-0.50"}, {"B": b"\x00"},
              {"BOOL": True}, {"NULL": True}, {"SS": ["a", "b"]}, {"NS": ["1", "2.5"]}, {"BS": [b"a"]},
              {"L": [{"S": "a"}, {"N": "3"}, {"M": {"k": {"NULL": True}}}]}, {"M": {"a": {"L": []}, "n": {"N": "7"}}}]  # fmt: skip
    expected = [(type(cast), cast) for cast in (DynamoType(value).cast_value for value in values)]
    # When they are cast with the faster paths in place
    with faster_dynamodb():
        answers = [(type(cast), cast) for cast in (DynamoType(value).cast_value for value in values)]
    # Then each is the same Python value, of the same type
    assert answers == expected


def test_an_answer_is_converted_to_the_plain_values_moto_converts_it_to() -> None:
    # Given answers as moto's handlers make them: items' attributes of every type (binary ones too), nested in
    # dicts and lists with counts, a null, a date, a float
    attributes = Item(DynamoType({"S": "k"}), None, {
        "s": {"S": "é"}, "n": {"N": "1.5"}, "flag": {"BOOL": True}, "none": {"NULL": True}, "tags": {"SS": ["a"]},
        "nested": {"M": {"l": {"L": [{"N": "1"}, {"M": {"x": {"S": "y"}}}]}}},
    }).attrs  # fmt: skip
    binary = Item(DynamoType({"S": "k"}), None, {"b": {"B": "AAE="}, "bs": {"BS": ["AA=="]}}).attrs
    answers = [
        {"Items": [attributes, attributes], "Count": 2, "ScannedCount": 3, "LastEvaluatedKey": {"pk": {"S": "k"}}},
        {"Item": attributes},
        {},
        {"Items": [attributes, binary], "Count": 2},
        {"Item": None},
        {"at": datetime(2026, 12, 4, tzinfo=UTC), "units": 0.5},
        [attributes, {"CapacityUnits": 1.5}],
    ]

    # Then the faster conversion gives what moto's gives
    assert [faster_dynamo_to_dict(answer) for answer in answers] == [original_dynamo_to_dict(answer) for answer in answers]


def _validation_report(operation: str, params: dict[str, Any]) -> str:
    """What botocore's client-side validation says of a DynamoDB request ('' when nothing)."""
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    shape = boto3.client("dynamodb", region_name="eu-west-1").meta.service_model.operation_model(operation).input_shape
    try:
        validate_parameters(params, shape)
    except ParamValidationError as error:
        return str(error)
    return ""


def test_client_validation_of_attribute_values_reports_what_botocore_reports() -> None:
    # Given items, keys and expression values, valid and not, nested, of every type
    values: list[Any] = [
        {"S": "x"}, {"N": "1.5"}, {"BOOL": True}, {"NULL": True}, {"SS": ["a"]}, {"NS": ("1", "2")}, {"L": []},
        {"M": {}}, {}, {"B": b"\x00"}, {"BS": [b"\x00", "AA=="]},
        {"M": {"a": {"L": [{"S": "x"}, {"M": {"b": {"NS": ["3"]}}}]}, "n": {"NULL": True}}},
        {"S": 1}, {"N": 1.5}, {"BOOL": "yes"}, {"NULL": None}, {"SS": ["a", 1]}, {"NS": "1"}, {"L": {"S": "x"}},
        {"M": {1: {"S": "x"}}}, {"M": {"a": {"S": None}}}, {"L": [{"S": "x"}, {"Q": "?"}]}, {"S": "x", "N": "1"},
        {"B": 3}, {"BS": [3]}, "x", None, [{"S": "x"}], {"M": [("a", {"S": "x"})]},
    ]
    requests = [
        ("PutItem", {"TableName": "t", "Item": {"pk": {"S": "k"}, "value": value}}) for value in values
    ] + [
        ("UpdateItem", {"TableName": "t", "Key": {"pk": value}, "UpdateExpression": "SET a = :v",
                        "ExpressionAttributeValues": {":v": value, ":w": {"S": "ok"}}}) for value in values
    ] + [
        ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "t", "Item": {"pk": {"S": "k"}, 7: value}}}]})
        for value in values[:3]
    ]  # fmt: skip
    expected = [_validation_report(operation, params) for operation, params in requests]

    # When botocore validates them with the local stack's faster paths in place
    with mock_aws(), faster_dynamodb():
        answers = [_validation_report(operation, params) for operation, params in requests]

    # Then it reports the same errors, with the same wording, for the same requests
    assert answers == expected
    assert sum(bool(report) for report in expected) == 2 * 16 + 3  # the invalid ones ({"S", "N"} is not one)


def test_client_validation_of_request_structures_reports_what_botocore_reports() -> None:
    # Given transactions and requests, valid and not: unknown and missing members, strings of the wrong type or too
    # short, members in an unusual order, several errors at once
    put = {"TableName": "t", "Item": {"pk": {"S": "k"}}, "ConditionExpression": "attribute_not_exists(pk)"}
    entries: list[Any] = [
        {"Put": put}, {"Put": {**put, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"Put": {"Item": {"pk": {"S": "k"}}, "TableName": "t"}}, {"Put": {**put, "TableName": ""}},
        {"Put": {**put, "TableName": 7}}, {"Put": {**put, "ConditionExpression": None}}, {"Put": {"TableName": "t"}},
        {"Put": {**put, "Extra": 1}}, {"Put": "x"}, {"Bogus": {}}, {"Put": put, "Delete": {"TableName": "t"}},
        {"Update": {"TableName": "t", "Key": {"pk": {"S": "k"}}, "UpdateExpression": "SET a = :v",
                    "ExpressionAttributeValues": {":v": {"N": 1}}, "ExpressionAttributeNames": {"#a": 3}}},
        {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "k"}}}}, {},
    ]  # fmt: skip
    requests: list[tuple[str, dict[str, Any]]] = [("TransactWriteItems", {"TransactItems": [entry]}) for entry in entries]
    requests += [
        ("TransactWriteItems", {"TransactItems": entries[:3], "ClientRequestToken": "t" * 10}),
        ("TransactWriteItems", {"TransactItems": entries, "ReturnConsumedCapacity": 5}),
        ("GetItem", {"TableName": "t", "Key": {"pk": {"S": "k"}}, "ConsistentRead": "yes", "ProjectionExpression": 1}),
        ("Query", {"TableName": "t", "Limit": 0, "KeyConditionExpression": "pk = :p"}),
        ("Query", {"TableName": "t", "ExclusiveStartKey": {"pk": {"S": "k"}}, "Select": "COUNT"}),
    ]
    expected = [_validation_report(operation, params) for operation, params in requests]

    # When botocore validates them with the local stack's faster paths in place
    with mock_aws(), faster_dynamodb():
        answers = [_validation_report(operation, params) for operation, params in requests]

    # Then it reports the same errors, with the same wording, in the same order
    assert answers == expected
    assert sum(bool(report) for report in expected) == 13  # the valid: three puts, an empty entry, three entries, a Query


@pytest.mark.parametrize("validated", [False, True], ids=["unvalidated", "validated"])
def test_a_request_body_is_the_one_botocore_serializes(validated: bool) -> None:
    # Given data-plane requests: plain ones (nested maps and lists, tuples, integers, booleans, a map attribute
    # named like a type, text that looks like a binary value or a null), ones with binary values (bytes and text),
    # and, where botocore does not validate first, one with a float where botocore wants an integer
    key = {"pk": {"S": "P#1"}, "sk": {"S": "PROFILE"}}
    item = {**key, "m": {"M": {"S": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}, {"SS": ("a", "b")}]}}},
            "note": {"S": 'say "B": null'}}  # fmt: skip
    plain = [
        ("PutItem", {"TableName": TABLE, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}),
        ("Query", {"TableName": TABLE, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "x"}},
                   "Limit": 10, "ConsistentRead": True, "ScanIndexForward": False}),
        ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": TABLE, "Item": item}},
                                                  {"Delete": {"TableName": TABLE, "Key": key}}]}),
    ]  # fmt: skip
    walked = [
        ("PutItem", {"TableName": TABLE, "Item": {**key, "b": {"B": b"\x00\x01"}, "t": {"BS": ["text", b"raw"]}}}),
        ("PutItem", {"TableName": TABLE, "Item": {**key, "b": {"B": "text"}}}),
        *([] if validated else [("Scan", {"TableName": TABLE, "Limit": 2.0})]),
    ]
    model = get_session().get_service_model("dynamodb")
    serializer = create_serializer("json", include_validation=validated)

    def serialized(requests: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        return [serializer.serialize_to_request(params, model.operation_model(operation)) for operation, params in requests]

    expected = serialized(plain + walked)

    # When they are serialized with the faster paths, the plain ones without botocore's walk of their members
    with mock_aws(), faster_dynamodb():
        with mock.patch.object(JSONSerializer, "_serialize", autospec=True, side_effect=JSONSerializer._serialize) as walk:
            answers = serialized(plain)
        answers += serialized(walked)

    # Then every request is the same: method, headers, body
    assert answers == expected
    assert walk.call_count == len(plain)  # the empty request the headers are made from, once each
    assert b'"B": "AAE="' in expected[3]["body"]


def test_endpoint_parameters_read_from_a_request_are_those_jmespath_reads() -> None:
    # Given DynamoDB's JMESPath paths of endpoint parameters, and requests well and badly formed
    transactions: list[Any] = [
        [], [{"Put": {"TableName": "a"}}, {"Update": {"TableName": "b"}}, {"Delete": {"TableName": "c"}},
             {"ConditionCheck": {"TableName": "d"}}],
        [{"Put": {"TableName": "a"}, "Delete": {"TableName": "b"}}], [None, "x", 3, {"Put": "x"}, {"Put": None}],
        [{"Put": {"TableName": False}}, {"Put": {"TableName": 0}}, {"Put": {"TableName": ["a"]}}, {"Get": {"TableName": "g"}}],
        [{"Put": {}}, {}],
    ]  # fmt: skip
    requests: list[dict[str, Any]] = [{"TransactItems": items} for items in transactions]
    requests += [{}, {"TransactItems": None}, {"TransactItems": "x"}, {"TransactItems": {"Put": {"TableName": "a"}}}]
    requests += [{"RequestItems": {"a": {}, "b": {}}}, {"RequestItems": {}}]
    for path, read in OPERATION_CONTEXT_PATHS.items():
        for request in requests:
            # When the local stack reads one directly
            try:
                expected: Any = jmespath.search(path, request)
            except JMESPathError as error:
                # Then it raises JMESPath's own error where JMESPath refuses the request
                with pytest.raises(type(error)):
                    read(request)
                continue
            # And reads JMESPath's value everywhere else
            assert read(request) == expected, (path, request)


def test_the_handler_kept_for_a_url_is_the_one_moto_dispatches_to_and_request_ids_look_like_moto_s() -> None:
    # Given the local stack's request plumbing, and moto's without it
    router = _RequestRouter(BotocoreStubber.process_request)
    with mock_aws():
        # When handlers are found for an AWS service, a bucket's object, and a host moto does not serve
        dynamodb = router._find_handler("https://dynamodb.eu-west-1.amazonaws.com/")
        s3 = router._find_handler("https://bucket.s3.amazonaws.com/key/with/parts")
        other = router._find_handler("https://example.com/")
        request_id, headers = _request_id({}), {}
        _request_id(headers)
    # Then they are moto's: its DynamoDB handler, its S3 handler, none for the stranger (moto answers it itself)
    assert getattr(dynamodb, "__func__", None) is DynamoHandler.dispatch.__func__
    assert s3 is not None and other is None
    # And a request id is 52 letters and digits, written to the answer's headers when given them
    assert re.fullmatch(r"[A-Za-z0-9]{52}", request_id) and re.fullmatch(r"[A-Za-z0-9]{52}", headers["x-amzn-requestid"])


def test_an_attribute_value_is_typed_as_moto_types_it() -> None:
    # Given attribute values of every type, nested, and values moto's constructor takes otherwise
    nested = {"M": {"l": {"L": [{"S": "x"}, {"M": {"n": {"NS": ["1", "2"]}}}, {"L": []}]}, "b": {"BOOL": False}}}
    values: list[Any] = [{"S": "x"}, {"N": "1.5"}, {"B": b"\x00"}, {"SS": ["a"]}, {"NULL": True}, {"L": ({"S": "t"},)},
                         nested, DynamoType(nested), {"S": "x", "N": "1"}, {"L": [DynamoType({"S": "d"})]}]  # fmt: skip

    def shape(typed: Any) -> Any:
        assert type(typed) is DynamoType
        if typed.type in ("L", "M"):
            held = typed.value.items() if typed.type == "M" else enumerate(typed.value)
            return typed.type, type(typed.value), {key: shape(element) for key, element in held}
        return typed.type, typed.value

    # When the local stack types them, Then each is what moto's constructor makes, node by node
    for value in values:
        assert shape(typed(value)) == shape(DynamoType(value)), value
    # And what moto refuses, it refuses alike
    for refused in [{}, {"M": [1]}]:
        with pytest.raises(Exception) as moto_error:
            DynamoType(refused)
        with pytest.raises(type(moto_error.value)):
            typed(refused)
