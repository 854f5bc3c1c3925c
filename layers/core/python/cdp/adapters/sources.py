"""Tracking sources and their write keys (stored hashed) in the profiles table."""

from __future__ import annotations

import secrets
from typing import Any

from cdp.adapters.clients import dynamodb_table
from cdp.profiles.keys import source_key


def find_source(profiles_table: str, write_key: str) -> dict[str, Any] | None:
    return dynamodb_table(profiles_table).get_item(Key=source_key(write_key)).get("Item")


def create_source(profiles_table: str, source_id: str, write_key: str | None = None) -> str:
    """Register a source; returns its write key (shown once, stored only as a hash)."""
    key = write_key or secrets.token_urlsafe(24)
    dynamodb_table(profiles_table).put_item(Item={**source_key(key), "source_id": source_id})
    return key
