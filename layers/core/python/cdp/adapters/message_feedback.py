"""Adapters of the feedback side of messaging: the SNS SMS opt-out list and the unsubscribe signing keys in SSM
Parameter Store (feedback marks send records through `cdp.adapters.send_records.SendRecordTable`)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

from cdp.adapters.clients import client, ssm_parameters

KEYS_MAX_AGE_SECONDS = 300  # a rotated key list reaches every container within five minutes


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
