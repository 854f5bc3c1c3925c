"""Faster paths through moto's in-process DynamoDB for the local stack, with the same answers.

A local run spends most of its time in moto's generic machinery rather than in its DynamoDB model:
- every DynamoDB answer is walked value by value against the botocore output shape (about 70% of a large GetItem
  or BatchGetItem), although DynamoDB's data-plane answers are already plain JSON values;
- every condition expression is parsed again by each layer that looks at it (request validation, the
  transaction, the put itself): three parses per conditional put in a transaction.
Here data-plane answers made only of JSON values are encoded directly (anything else, e.g. binary attributes,
goes through moto's serializer), and parsed condition expressions are kept by their text, names and values.
`tests/unit/test_moto_speedups.py` checks that both give what moto gives.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.core.serialize import BaseJSONSerializer, ResponseDict
from moto.dynamodb import comparisons
from moto.dynamodb import responses as dynamodb_responses

DATA_PLANE_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)
PARSED_EXPRESSIONS_KEPT = 4096

original_serialize_result = BaseJSONSerializer._serialize_result
original_create_parser = comparisons.create_condition_expression_parser


def serialize_result(serializer: Any, response: ResponseDict, result: Any) -> ResponseDict:
    """moto's JSON serializer, short-circuited for DynamoDB data-plane answers that are plain JSON already."""
    if (
        serializer.service_model.service_name == "dynamodb"
        and serializer.operation_name in DATA_PLANE_OPERATIONS
        and isinstance(result, dict)
        and _plain_json(result)
    ):
        response["body"] = serializer._serialize_body(result)
        response["headers"]["Content-Type"] = serializer._get_protocol_specific_content_type()
        return response
    return original_serialize_result(serializer, response, result)


def _plain_json(value: Any) -> bool:
    """Only dicts of strings, lists, numbers, booleans and non-null values (what the shape walk leaves unchanged)."""
    if isinstance(value, dict):
        return all(isinstance(key, str) and item is not None and _plain_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(item is not None and _plain_json(item) for item in value)
    return isinstance(value, (str, bool, int, float))


class _ParsedOnce:
    """A condition expression parser whose parse result is kept (moto's parse trees are only read afterwards)."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser
        self._parsed: Any = None
        self._lock = threading.Lock()

    def parse(self) -> Any:
        with self._lock:
            if self._parsed is None:
                self._parsed = self._parser.parse()
            return self._parsed

    @property
    def expr_attr_names_found(self) -> list[str]:
        return self._parser.expr_attr_names_found  # type: ignore[no-any-return]

    @property
    def expr_attr_values_found(self) -> list[str]:
        return self._parser.expr_attr_values_found  # type: ignore[no-any-return]


class _ParserCache:
    def __init__(self) -> None:
        self._parsers: OrderedDict[tuple[str, str, str], _ParsedOnce] = OrderedDict()
        self._lock = threading.Lock()

    def parser(self, expression: str | None, names: dict[str, str] | None, values: dict[str, Any] | None) -> Any:
        try:
            key = (expression or "", json.dumps(names, sort_keys=True), json.dumps(values, sort_keys=True))
        except TypeError:  # binary values: not kept
            return original_create_parser(expression, names, values)
        with self._lock:
            parser = self._parsers.get(key)
            if parser is not None:
                self._parsers.move_to_end(key)
                return parser
        parser = _ParsedOnce(original_create_parser(expression, names, values))
        with self._lock:
            self._parsers[key] = parser
            if len(self._parsers) > PARSED_EXPRESSIONS_KEPT:
                self._parsers.popitem(last=False)
        return parser


@contextmanager
def faster_dynamodb() -> Iterator[None]:
    """Patch moto's DynamoDB answers and condition parsing for the duration (local stack only)."""
    import moto.dynamodb.models as dynamodb_models

    cache = _ParserCache()
    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(BaseJSONSerializer, "_serialize_result", serialize_result))
        for module in (comparisons, dynamodb_models, dynamodb_responses):
            patches.enter_context(mock.patch.object(module, "create_condition_expression_parser", cache.parser))
        yield


def _retained(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's retention check, reading the one attribute instead of all of them (which count the queue's messages)."""
    from moto.core.utils import unix_time

    queue = backend.get_queue(queue_name)
    return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time())


@contextmanager
def faster_sqs() -> Iterator[None]:
    """moto's SQS checks each received message's retention by computing every queue attribute, which counts the
    queue's messages: receiving from a queue of n messages costs n². Same answer, linear (local stack only)."""
    from moto.sqs.models import SQSBackend

    with mock.patch.object(SQSBackend, "is_message_valid_based_on_retention_period", _retained):
        yield
