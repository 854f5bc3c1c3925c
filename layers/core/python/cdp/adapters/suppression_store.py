"""DynamoDB suppression items (ProfilesTable `SUPPRESSED#<channel>#<address digest>` / `SUPPRESSED`): a string set
of reasons with the moment each was first added (and `reason`, the first one, which the sending service's interim
reader reads), read together with the erased register's item in one request."""

from __future__ import annotations

from datetime import datetime

from cdp.adapters.clients import dynamodb_table
from cdp.adapters.dynamodb import batch_get_items, condition_held
from cdp.keys import erased_key, suppression_key


class SuppressionStore:
    def __init__(self, profiles_table: str) -> None:
        self.table_name = profiles_table
        self.table = dynamodb_table(profiles_table)

    def lookup(self, channel: str, address_digest: str, erased_digest: str) -> tuple[set[str], bool]:
        """The address's reasons, and whether the erased register holds `erased_digest` (one BatchGetItem,
        strongly consistent, so an unsubscribe or an erasure is seen by the very next send)."""
        keys = [suppression_key(channel, address_digest)] + ([erased_key(erased_digest)] if erased_digest else [])
        items = list(batch_get_items(self.table.meta.client, self.table_name, keys, consistent=True))
        reasons = {str(r) for item in items if item["sk"] == "SUPPRESSED" for r in item.get("reasons", ())}
        return reasons, any(item["pk"] == erased_key(erased_digest)["pk"] for item in items if erased_digest)

    def reasons_of(self, channel: str, address_digests: list[str]) -> dict[str, set[str]]:
        """The reasons of each of these addresses that has any (BatchGetItem, 100 keys a request)."""
        prefix = len(suppression_key(channel, "")["pk"])
        keys = [suppression_key(channel, digest) for digest in address_digests]
        items = batch_get_items(self.table.meta.client, self.table_name, keys, consistent=True)
        return {str(item["pk"])[prefix:]: {str(r) for r in item.get("reasons", ())} for item in items}

    def add_reason(self, channel: str, address_digest: str, reason: str, at: datetime) -> bool:
        """Add the reason unless the item has it already; whether it was new."""
        return condition_held(
            lambda: self.table.update_item(
                Key=suppression_key(channel, address_digest),
                UpdateExpression="ADD reasons :reason SET channel = :channel, #since = if_not_exists(#since, :at), "
                "#reason_at = :at, #first = if_not_exists(#first, :name)",
                ConditionExpression="attribute_not_exists(reasons) OR NOT contains(reasons, :name)",
                ExpressionAttributeNames={"#since": "suppressed_at", "#reason_at": f"{reason}_at", "#first": "reason"},
                ExpressionAttributeValues={":reason": {reason}, ":name": reason, ":channel": channel, ":at": at.isoformat()},
            )
        )

    def remove_reason(self, channel: str, address_digest: str, reason: str) -> None:
        """Take the reason off the item, if there is one (DynamoDB drops a set left empty)."""
        condition_held(
            lambda: self.table.update_item(
                Key=suppression_key(channel, address_digest),
                UpdateExpression="DELETE reasons :reason REMOVE #reason_at",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#reason_at": f"{reason}_at"},
                ExpressionAttributeValues={":reason": {reason}},
            )
        )
