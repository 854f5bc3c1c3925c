"""Tracking sources and their credentials: write keys stored hashed in the profiles table, shop webhook secrets in SSM.

A write key only needs to be recognised, so only its SHA-256 is stored. A Shopify webhook secret must be used as
the HMAC key, so it cannot be hashed: it is an SSM SecureString parameter `<prefix><shop domain>` (KMS-encrypted,
readable only by the tracking function).
"""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import client, dynamodb_table
from cdp.keys import source_key


def find_source(profiles_table: str, write_key: str) -> dict[str, Any] | None:
    return dynamodb_table(profiles_table).get_item(Key=source_key(write_key)).get("Item")


def create_source(profiles_table: str, source_id: str, write_key: str | None = None) -> str:
    """Register a source; returns its write key (shown once, stored only as a hash)."""
    key = write_key or secrets.token_urlsafe(24)
    dynamodb_table(profiles_table).put_item(Item={**source_key(key), "source_id": source_id})
    return key


def shop_secret(parameter_prefix: str, shop_domain: str) -> bytes | None:
    """The webhook signing secret of a shop, or None for a shop that is not registered."""
    try:
        response = client("ssm").get_parameter(Name=f"{parameter_prefix}{shop_domain}", WithDecryption=True)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ParameterNotFound", "ValidationException"):
            return None
        raise
    return str(response["Parameter"]["Value"]).encode()


def register_shop(parameter_prefix: str, shop_domain: str, secret: str) -> None:
    """Store (or rotate) a shop's webhook signing secret as a SecureString."""
    client("ssm").put_parameter(
        Name=f"{parameter_prefix}{shop_domain}", Value=secret, Type="SecureString", Overwrite=True
    )


class WriteKeyDirectory:
    """The tracking sources, found by their write key (stored hashed in the profiles table)."""

    def __init__(self, profiles_table: str) -> None:
        self.profiles_table = profiles_table

    def find_source(self, write_key: str) -> dict[str, Any] | None:
        return find_source(self.profiles_table, write_key)


class ShopSecretStore:
    """Shops' webhook signing secrets, SSM SecureStrings under `parameter_prefix`."""

    def __init__(self, parameter_prefix: str) -> None:
        self.parameter_prefix = parameter_prefix

    def shop_secret(self, shop_domain: str) -> bytes | None:
        return shop_secret(self.parameter_prefix, shop_domain)
