"""moto's TransactWriteItems for the local stack: the same steps, answers and errors, on the touched items only.

moto backs up every table a transaction touches with a deep copy, once per item (quadratic in table size), then
looks each item up again for its condition, for its put and for its put's condition. Here a transaction keeps
what it replaces (a copy of an item it updates, the item itself where it puts or deletes one, which moto never
changes in place) and restores only that when it is cancelled; each item's key is typed and looked up once, the
condition is checked on the item found (once), and a put stores its item after the checks moto's put makes
(key types, attribute types, key sizes, the item size limit). Updates, deletes and condition checks go through
moto's own calls. Transactions run one at a time, as DynamoDB makes them atomic (handlers apply a batch's
profiles on threads). `tests/unit/test_moto_speedups.py` compares answers and tables with plain moto.
"""

from __future__ import annotations

import copy
import threading
from typing import Any
from unittest import mock

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    InvalidAttributeTypeError,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from cdp_local.moto_speedups import forget_scan_order, key_values

OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
Touched = tuple[Table, DynamoType, "DynamoType | None", "Item | None"]  # an item's key and what it held before


def transactions_that_snapshot_only_touched_items() -> Any:
    """Patch moto's DynamoDB backend for the duration: its transactions as `_transact`, one at a time."""
    one_at_a_time = threading.Lock()

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        with one_at_a_time:
            _transact(backend, transact_items)

    return mock.patch.object(dynamodb_models.DynamoDBBackend, "transact_write_items", transact_write_items)


def _transact(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's transaction loop: every item is tried (its error, if any, kept as its cancellation reason); any
    error cancels the whole, and a duplicate item, an invalid request or an entry naming two operations is raised
    as it is. Whatever was written is restored in either case."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    touched: list[Touched] = []
    targets: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    try:
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            errors.append(_transact_one(backend, entry, targets, touched))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
    except BaseException:
        for table, hash_value, range_value, before in reversed(touched):
            restore_item(table, hash_value, range_value, before)
        raise
    finally:
        for table in {id(table): table for table, *_ in touched}.values():
            forget_scan_order(table)


def _transact_one(
    backend: Any, entry: dict[str, Any], targets: set[tuple[str, str]], touched: list[Touched]
) -> tuple[str | None, str | None, dict[str, Any] | None]:
    """One item of a transaction, as moto's loop runs it: (None, None, None), or its cancellation reason."""
    original_item: dict[str, Any] | None = None
    try:
        op_type, op = next(iter(entry.items()))
        if op_type not in OPERATIONS:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        condition_expression = op.get("ConditionExpression")
        names = op.get("ExpressionAttributeNames")
        values = op.get("ExpressionAttributeValues")
        if op_type == "Put":
            attrs = op["Item"]
            table = backend.get_table(table_name)
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        target = (str(table_name), str(dict(sorted(key.items()))))
        if target in targets:
            raise MultipleTransactionsException()
        targets.add(target)
        table = backend.get_table(table_name)
        hash_value, range_value = key_values(table, key)
        current = table.get_item(hash_value, range_value)
        if condition_expression is not None and not get_filter_expression(condition_expression, names, values).expr(
            current
        ):
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                original_item = current.to_json()["Attributes"]
            raise ConditionalCheckFailed(item=original_item)
        if op_type == "ConditionCheck":
            return None, None, None
        touched.append((table, hash_value, range_value, copy.deepcopy(current) if op_type == "Update" else current))
        if op_type == "Put":
            _put(table, attrs, hash_value, range_value, current)
        elif op_type == "Delete":
            backend.delete_item(table_name, key, condition_expression=None, expression_attribute_names=names,
                                expression_attribute_values=values)  # fmt: skip
        else:
            backend.update_item(table_name, key, update_expression=op["UpdateExpression"], condition_expression=None,
                                expression_attribute_names=names, expression_attribute_values=values)  # fmt: skip
        return None, None, None
    except (MultipleTransactionsException, MockValidationException):
        raise
    except ConditionalCheckFailed as error:
        return "ConditionalCheckFailed", str(error.message), original_item
    except Exception as error:  # noqa: BLE001 - moto's loop keeps any other error as the item's reason
        return type(error).__name__, str(error), original_item


def _put(table: Table, attrs: dict[str, Any], hash_value: DynamoType, range_value: DynamoType | None,
         current: Item | None) -> None:  # fmt: skip
    """moto's put of an item whose condition the transaction has checked on `current`, the item at its key."""
    if hash_value.type != table.hash_key_type:
        raise InvalidAttributeTypeError(table.hash_key_attr, expected_type=table.hash_key_type,
                                        actual_type=hash_value.type)  # fmt: skip
    if range_value and range_value.type != table.range_key_type:
        raise InvalidAttributeTypeError(table.range_key_attr, expected_type=table.range_key_type,
                                        actual_type=range_value.type)  # fmt: skip
    table._validate_item_types(attrs)
    table._validate_key_sizes(attrs)
    item = Item(hash_value, range_value, attrs)
    if range_value:
        table.items[hash_value][range_value] = item
    else:
        table.items[hash_value] = item  # type: ignore[assignment]  # moto's table without a range key
    if table.stream_shard is not None:
        table.stream_shard.add(current, item)


def restore_item(table: Table, hash_value: Any, range_value: Any, before: Any) -> None:
    """Put back what the item at this key held before (None: no item)."""
    forget_scan_order(table)
    if range_value is None:
        if before is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = before
        return
    partition = table.items[hash_value]
    if before is None:
        partition.pop(range_value, None)
        if not partition:
            table.items.pop(hash_value, None)
    else:
        partition[range_value] = before
