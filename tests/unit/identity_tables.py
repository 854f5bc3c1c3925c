"""Moto tables laid out as the template declares them (ProfilesTable; LedgerTable with its ByProfile index)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import boto3
from cdp.adapters.clients import reset_clients
from cdp.adapters.identity_store import IdentityStore
from moto import mock_aws

PROFILES = "profiles"
LEDGER = "ledger"
_KEYS: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "BillingMode": "PAY_PER_REQUEST",
}


@contextmanager
def identity_tables() -> Iterator[IdentityStore]:
    credentials = {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    with mock.patch.dict(os.environ, credentials), mock_aws():
        reset_clients()
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=PROFILES,
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            **_KEYS,
        )
        dynamodb.create_table(
            TableName=LEDGER,
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "profile_id")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "ByProfile",
                    "KeySchema": [
                        {"AttributeName": "profile_id", "KeyType": "HASH"},
                        {"AttributeName": "pk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            **_KEYS,
        )
        yield IdentityStore(PROFILES, LEDGER)
        reset_clients()


def table_snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every item of both tables, sorted: to show that something changed nothing."""
    dynamodb = boto3.client("dynamodb")
    return {
        name: sorted(dynamodb.scan(TableName=name)["Items"], key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
        for name in (PROFILES, LEDGER)
    }


def put_record(
    entity: str, key: str, profile_id: str, identifiers: list[str], record: dict[str, Any], applied_at: str
) -> str:
    """One record-ledger item as the profiles helper writes it (contract layout); returns its pk."""
    pk = f"RECORD#{entity}#{key}"
    boto3.resource("dynamodb").Table(LEDGER).put_item(
        Item={
            "pk": pk,
            "sk": "RECORD",
            "profile_id": profile_id,
            "entity": entity,
            "source": "test",
            "applied_at": applied_at,
            "identifiers": identifiers,
            "record": record,
        }
    )
    return pk
