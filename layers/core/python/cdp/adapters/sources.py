"""Tracking sources and their credentials: write keys stored hashed in the profiles table, shop webhook secrets in SSM.

A write key only needs to be recognised, so only its SHA-256 is stored. A Shopify webhook secret must be used as
the HMAC key, so it cannot be hashed: it is an SSM SecureString parameter `<prefix><shop domain>` (KMS-encrypted,
readable only by the tracking function). The unauthenticated webhook route must not spend the account's SSM request
rate: all shops' secrets are read together (GetParametersByPath) at most once per `SHOP_SECRETS_MAX_AGE_SECONDS` per
function instance, so an unknown or malformed shop domain costs no SSM request at all.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from cdp.adapters.clients import client, dynamodb_table, ssm_parameters
from cdp.errors import Unavailable
from cdp.keys import source_key


def find_source(profiles_table: str, write_key: str) -> dict[str, Any] | None:
    return dynamodb_table(profiles_table).get_item(Key=source_key(write_key)).get("Item")


def create_source(profiles_table: str, source_id: str, write_key: str | None = None) -> str:
    """Register a source; returns its write key (shown once, stored only as a hash)."""
    key = write_key or secrets.token_urlsafe(24)
    dynamodb_table(profiles_table).put_item(Item={**source_key(key), "source_id": source_id})
    return key


SHOP_SECRETS_MAX_AGE_SECONDS = 300
SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\.myshopify\.com")


class ShopSecretsUnavailable(Unavailable):
    """SSM could not be read (throttled or unavailable): the webhook should be retried later."""


def shop_secret(parameter_prefix: str, shop_domain: str) -> bytes | None:
    """The webhook signing secret of a shop, or None for a shop that is not registered (or not a shop domain).

    A shop registered or rotated elsewhere is seen within the cache's max age (Shopify retries refused webhooks)."""
    if not SHOP_DOMAIN.fullmatch(shop_domain):
        return None
    try:
        shop_secrets = ssm_parameters().get_multiple(
            parameter_prefix.rstrip("/"), max_age=SHOP_SECRETS_MAX_AGE_SECONDS, decrypt=True
        )
    except GetParameterError as error:
        raise ShopSecretsUnavailable("temporarily unavailable, retry later") from error
    secret = shop_secrets.get(shop_domain)
    return str(secret).encode() if secret else None


def forget_shop_secrets() -> None:
    """Drop this instance's cached secrets (after one was registered, rotated or deleted here)."""
    ssm_parameters().clear_cache()


def register_shop(parameter_prefix: str, shop_domain: str, secret: str) -> None:
    """Store (or rotate) a shop's webhook signing secret as a SecureString."""
    client("ssm").put_parameter(
        Name=f"{parameter_prefix}{shop_domain}", Value=secret, Type="SecureString", Overwrite=True
    )
    forget_shop_secrets()


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
