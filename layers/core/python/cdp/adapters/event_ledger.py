"""The messageId register (LedgerTable, `MESSAGEID#<source>#<id>`): a message seen within the window is a replay.

Ids are looked up before a batch is applied and remembered only after it was applied, so a failed attempt is
retried in full by the client rather than lost; the record ledger behind `apply_records` keeps a retry that races
the register from counting twice. Items expire through the table's TTL (`expires_at`) after the window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import batch_get_items
from cdp.keys import message_id_key


class MessageRegister:
    def __init__(self, ledger_table: str) -> None:
        self.table_name = ledger_table
        self.table = dynamodb_table(ledger_table)

    def seen(self, source: str, message_ids: Iterable[str], now: datetime) -> set[str]:
        """Which of these ids this source sent before and whose window has not yet ended at `now`."""
        prefix = len(message_id_key(source, "")["pk"])
        keys = [message_id_key(source, message_id) for message_id in message_ids]
        items = batch_get_items(self.table.meta.client, self.table_name, keys, attributes=("pk", "expires_at"))
        return {item["pk"][prefix:] for item in items if int(item["expires_at"]) > now.timestamp()}

    def remember(self, source: str, message_ids: Iterable[str], received_at: datetime, window: timedelta) -> None:
        """Register applied ids with the time they were received; they count as replays until the window ends."""
        expires_at = int((received_at + window).timestamp())
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
            for message_id in message_ids:
                writer.put_item(
                    Item={
                        **message_id_key(source, message_id),
                        "received_at": received_at.isoformat(),
                        "expires_at": expires_at,
                    }
                )
