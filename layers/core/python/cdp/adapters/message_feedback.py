"""Adapters of the feedback side of messaging: send records marked by feedback (ProfilesTable), the SNS SMS opt-out
list, and the unsubscribe signing keys in SSM Parameter Store."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from cdp.adapters.clients import client, dynamodb_table, ssm_parameters
from cdp.adapters.dynamodb import condition_held
from cdp.keys import message_record_key

KEYS_MAX_AGE_SECONDS = 300  # a rotated key list reaches every container within five minutes


class SendRecords:
    """The `SendRecordFeedback` port over ProfilesTable."""

    def __init__(self, profiles_table: str) -> None:
        self.table = dynamodb_table(profiles_table)

    def get(self, profile_id: str, message_key: str) -> dict[str, Any] | None:
        return self.table.get_item(Key=message_record_key(profile_id, message_key), ConsistentRead=True).get("Item")

    def mark(self, profile_id: str, message_key: str, event: str, at: datetime, details: dict[str, str]) -> bool:
        """Set `<event>_at` (and the details) on an existing record unless it is set; whether this call set it."""
        names = {"#at": f"{event}_at", **{f"#d{i}": name for i, name in enumerate(details)}}
        values = {":at": at.isoformat(), **{f":d{i}": value for i, value in enumerate(details.values())}}
        assignments = ", ".join(["#at = :at", *(f"#d{i} = :d{i}" for i in range(len(details)))])
        return condition_held(
            lambda: self.table.update_item(
                Key=message_record_key(profile_id, message_key),
                UpdateExpression=f"SET {assignments}",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#at)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )


def sms_opt_outs() -> Iterator[str]:
    """The `SmsOptOuts` port: every number on the account's SNS opt-out list, page after page."""
    for page in client("sns").get_paginator("list_phone_numbers_opted_out").paginate():
        yield from page.get("phoneNumbers", [])


def signing_keys(parameter_name: str) -> list[bytes]:
    """The unsubscribe signing keys, newest first: a SecureString holding a JSON list of base64 keys, read through
    Powertools Parameters (cached for KEYS_MAX_AGE_SECONDS)."""
    value = ssm_parameters().get(parameter_name, decrypt=True, max_age=KEYS_MAX_AGE_SECONDS, transform="json")
    if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"{parameter_name}: expected a JSON list of base64 keys")
    return [base64.b64decode(key, validate=True) for key in value]
