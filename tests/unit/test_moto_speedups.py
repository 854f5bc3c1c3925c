"""The local stack's faster DynamoDB paths answer exactly what moto answers without them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cdp_local.moto_speedups import faster_dynamodb
from moto import mock_aws

TABLE = "speedups"
Outcome = dict[str, Any]


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    yield


def _outcome(call: Callable[[], dict[str, Any]]) -> Outcome:
    """A call's answer without its request id, or its error code, message and cancellation reasons."""
    try:
        answer = call()
    except ClientError as error:
        return {
            "error": error.response["Error"],
            "reasons": error.response.get("CancellationReasons"),
        }
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


def _exercise() -> list[Outcome]:
    """Reads and writes of every shape a local run makes, including the cases moto answers with an error."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
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
    ]
    outcomes.append({"key_schema": client.describe_table(TableName=TABLE)["Table"]["KeySchema"]})
    return outcomes


def _plain_then_faster(exercise: Callable[[], list[Outcome]]) -> tuple[list[Outcome], list[Outcome]]:
    """The exercise's outcomes against plain moto, then with the faster paths in place."""
    with mock_aws():
        expected = exercise()
    with mock_aws(), faster_dynamodb():
        return expected, exercise()


def test_every_answer_is_the_one_moto_gives_without_the_faster_paths() -> None:
    # Given the same calls made against plain moto, then with the faster paths in place
    expected, answers = _plain_then_faster(_exercise)

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
        "ValidationException",  # the item over the size limit
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
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
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
