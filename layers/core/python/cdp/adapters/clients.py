"""Lazily created, shared boto3 clients and resources (created on first use, never at import)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SSMProvider
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})
# DynamoDB requests are built by this code, never from raw input, and DynamoDB validates them itself: botocore's
# client-side validation is most of the CPU of sending a 100-put transaction (5.3 ms with it, 2.0 ms without, here),
# the hot path of ingest, so it is off for DynamoDB only.
_DYNAMODB = _RETRIES.merge(Config(parameter_validation=False))
# S3 pre-signed URLs (audience export links) signed with Signature Version 4, as every region accepts
_S3 = _RETRIES.merge(Config(signature_version="s3v4"))


def _config(service: str) -> Config:
    return {"dynamodb": _DYNAMODB, "s3": _S3}.get(service, _RETRIES)


@cache
def client(service: str) -> Any:
    """A boto3 client for `service`, with standard retries."""
    return boto3.client(service, config=_config(service))  # type: ignore[call-overload]


@cache
def dynamodb_table(name: str) -> Any:
    """A boto3 DynamoDB Table resource."""
    return boto3.resource("dynamodb", config=_DYNAMODB).Table(name)


@cache
def ssm_parameters() -> SSMProvider:
    """Powertools' SSM Parameter Store provider (values cached per `max_age`) over the shared SSM client."""
    return SSMProvider(boto3_client=client("ssm"))


def reset_clients() -> None:
    """Forget every cached client (the local stack calls this when it starts a fresh mock)."""
    client.cache_clear()
    dynamodb_table.cache_clear()
    ssm_parameters.cache_clear()
