"""Lazily created, shared boto3 clients and resources (created on first use, never at import)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})


@cache
def client(service: str) -> Any:
    """A boto3 client for `service`, with standard retries."""
    return boto3.client(service, config=_RETRIES)  # type: ignore[call-overload]


@cache
def dynamodb_table(name: str) -> Any:
    """A boto3 DynamoDB Table resource."""
    return boto3.resource("dynamodb", config=_RETRIES).Table(name)


def reset_clients() -> None:
    """Forget every cached client (the local stack calls this when it starts a fresh mock)."""
    client.cache_clear()
    dynamodb_table.cache_clear()
