"""The ledger of behaviour events per profile, and the messageId register that makes replays harmless."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.clients import dynamodb_table
from cdp.profiles.keys import event_ledger_key, message_id_key


class EventLedger:
    def __init__(self, ledger_table: str) -> None:
        self.table = dynamodb_table(ledger_table)

    def first_sighting(self, source_id: str, message_id: str, now: datetime, window: timedelta) -> bool:
        """Register a messageId; False if it was already seen within the window (a replay)."""
        try:
            self.table.put_item(
                Item={**message_id_key(source_id, message_id), "expires_at": int((now + window).timestamp())},
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": int(now.timestamp())},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_event(
        self,
        profile_id: str,
        occurred_at: datetime,
        message_id: str,
        call: str,
        event: str | None,
        properties: dict[str, Any],
    ) -> None:
        self.table.put_item(
            Item={
                **event_ledger_key(profile_id, occurred_at.isoformat(), message_id),
                "call": call,
                "event": event or call,
                "properties": json.dumps(properties, default=str)[:30000],
            }
        )
