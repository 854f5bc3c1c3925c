"""Moto tables built from the template's own key schemas (ProfilesTable; LedgerTable with its ByProfile index)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from unittest import mock

import boto3
from cdp.adapters.clients import reset_clients
from cdp.adapters.identity_store import IdentityStore
from cdp.adapters.profile_store import ProfileStore
from cdp.records.apply import profile_changes
from cdp_local.template import load_template, resources_of_type
from moto import mock_aws
from moto.dynamodb import models as dynamodb_models

PROFILES = "profiles"
LEDGER = "ledger"
TABLES = {"ProfilesTable": PROFILES, "LedgerTable": LEDGER}  # logical id -> the name the tests give it
TABLE_PROPERTIES = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode")


def create_template_tables(dynamodb: Any) -> None:
    """Create the template's ProfilesTable and LedgerTable (as PROFILES and LEDGER) with its own key schemas and
    indexes, read through the template loader (which knows !Ref, !Sub and !GetAtt)."""
    declared = resources_of_type(load_template(), "AWS::DynamoDB::Table")
    for logical_id, name in TABLES.items():
        properties = declared[logical_id]["Properties"]
        dynamodb.create_table(TableName=name, **{key: properties[key] for key in TABLE_PROPERTIES if key in properties})


@contextmanager
def identity_tables() -> Iterator[IdentityStore]:
    """moto tables laid out as the template's ProfilesTable and LedgerTable; transactions atomic (handlers apply a
    batch's profiles on threads)."""
    credentials = {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    with mock.patch.dict(os.environ, credentials), mock_aws(), atomic_transactions():
        reset_clients()
        create_template_tables(boto3.client("dynamodb"))
        yield IdentityStore(PROFILES, LEDGER)
        reset_clients()


def table_snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every item of both tables, sorted: to show that something changed nothing."""
    dynamodb = boto3.client("dynamodb")
    return {
        name: sorted(dynamodb.scan(TableName=name)["Items"], key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
        for name in (PROFILES, LEDGER)
    }


def apply_record(
    entity: str, key: str, profile_id: str, identifiers: list[str], record: dict[str, Any], applied_at: str
) -> str:
    """One record-ledger item applied as `apply_records` applies it (ledger put and aggregates in one versioned
    transaction, following a merge redirect); returns its pk."""
    pk = f"RECORD#{entity}#{key}"
    item = {
        "pk": pk,
        "sk": "RECORD",
        "profile_id": profile_id,
        "entity": entity,
        "source": "test",
        "applied_at": applied_at,
        "identifiers": identifiers,
        "record": record,
    }
    at = datetime.fromisoformat(applied_at)
    ProfileStore(PROFILES, LEDGER).apply_ledger_items(profile_id, [item], profile_changes, at)
    return pk


def set_profile(profile_id: str, **values: object) -> None:
    """Set attributes on a profile item directly (names, cities: what a customers file would have written)."""
    boto3.resource("dynamodb").Table(PROFILES).update_item(
        Key={"pk": f"PROFILE#{profile_id}", "sk": "PROFILE"},
        UpdateExpression="SET " + ", ".join(f"{name} = :{name}" for name in values),
        ExpressionAttributeValues={f":{name}": value for name, value in values.items()},
    )


@contextmanager
def atomic_transactions() -> Iterator[None]:
    """DynamoDB runs each transaction atomically; moto's rollback restores a whole-table copy, so for tests with
    threads its transactions are serialised here as DynamoDB serialises them."""
    original = dynamodb_models.DynamoDBBackend.transact_write_items
    lock = threading.Lock()

    def atomic(backend: Any, items: list[dict[str, Any]]) -> None:
        with lock:
            original(backend, items)

    with mock.patch.object(dynamodb_models.DynamoDBBackend, "transact_write_items", atomic):
        yield


def run_at_once(*calls: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run the calls on threads at the same moment, transactions atomic as DynamoDB runs them: their results (in
    the order they finished) and the errors raised."""
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        try:
            results.append(call())
        except BaseException as error:  # noqa: BLE001 - returned to the test, which asserts on it
            errors.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    with atomic_transactions():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return results, errors
